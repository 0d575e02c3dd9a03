import fs from 'node:fs';
import path from 'node:path';
import { DIFFUSERS_CONFIGS, type DiffusersArchitecture } from './diffusers-configs.js';
import { diffusersUnetName, diffusersVaeName } from './diffusers-names.js';
import { openClipToTransformers, type TensorSource } from './open-clip-to-transformers.js';
import { writeSafetensors, type SafetensorsEntry } from './safetensors.js';

export type { DiffusersArchitecture } from './diffusers-configs.js';

export interface DiffusersLayout {
  architecture: DiffusersArchitecture;
  /** The UNet's input channels: 4, or 9 for an SD 1.x inpainting UNet. */
  inChannels: number;
}

interface Part {
  folder: string;
  file: string;
  /** The single-file prefix of the part's tensors. */
  prefix: string;
  /** The part's tensors (prefix removed) as diffusers / transformers store them. */
  convert: (sources: TensorSource[]) => TensorSource[];
}

const renamed = (rename: (name: string) => string) => (sources: TensorSource[]) => sources.map((s) => ({ ...s, entry: { ...s.entry, name: rename(s.entry.name) } }));

const UNET: Part = { folder: 'unet', file: 'diffusion_pytorch_model.safetensors', prefix: 'model.diffusion_model.', convert: renamed(diffusersUnetName) };
const VAE: Part = {
  folder: 'vae',
  file: 'diffusion_pytorch_model.safetensors',
  prefix: 'first_stage_model.',
  // diffusers keeps the VAE's attention projections as Linear weights: [out, in] rather than [out, in, 1, 1]
  convert: (sources) => renamed(diffusersVaeName)(sources).map((s) => (/attentions\.0\.to_(q|k|v|out\.0)\.weight$/.test(s.entry.name) ? { ...s, entry: { ...s.entry, shape: s.entry.shape.slice(0, 2) } } : s)),
};
/** transformers' CLIPTextModel names under a prefix; older checkpoints lack the text_model. level. */
const clipText = (folder: string, prefix: string): Part => ({
  folder, file: 'model.safetensors', prefix, convert: renamed((n) => (n.startsWith('text_model.') ? n : `text_model.${n}`)),
});

/** Where each layout keeps its parts in a single file (SD 1.x v1-5 layout, SDXL base 1.0 layout). */
const PARTS: Record<DiffusersArchitecture, Part[]> = {
  sd1: [UNET, VAE, clipText('text_encoder', 'cond_stage_model.transformer.')],
  sdxl: [
    UNET, VAE, clipText('text_encoder', 'conditioner.embedders.0.transformer.'),
    { folder: 'text_encoder_2', file: 'model.safetensors', prefix: 'conditioner.embedders.1.model.', convert: openClipToTransformers },
  ],
};

/**
 * Splits a single-file checkpoint (SD 1.x: model.diffusion_model.*, first_stage_model.*, cond_stage_model.transformer.*;
 * SDXL: the same UNet and VAE prefixes, conditioner.embedders.0.transformer.* and the OpenCLIP conditioner.embedders.1.model.*)
 * into a diffusers folder, each tensor named (and, for OpenCLIP, split or transposed) as diffusers and transformers
 * store it; other tensors (EMA copies, schedules) are left out. `fill(entry, i)` gives the bytes of entries[i].
 * Written aside and renamed: a folder is whole or absent.
 */
export function writeDiffusersFolder(dir: string, layout: DiffusersLayout, entries: SafetensorsEntry[], fill: (e: SafetensorsEntry, i: number) => Uint8Array): void {
  const configs = DIFFUSERS_CONFIGS[layout.architecture];
  const tmp = `${dir}.${process.pid}.part`;
  fs.rmSync(tmp, { recursive: true, force: true });
  for (const part of PARTS[layout.architecture]) {
    fs.mkdirSync(path.join(tmp, part.folder), { recursive: true });
    const sources: TensorSource[] = entries
      .map((e, i) => ({ e, i }))
      // position_ids is a buffer transformers makes itself (and refuses as an unexpected key)
      .filter(({ e }) => e.name.startsWith(part.prefix) && !e.name.endsWith('position_ids'))
      .map(({ e, i }) => ({ entry: { ...e, name: e.name.slice(part.prefix.length) }, bytes: () => fill(entries[i], i) }));
    const tensors = part.convert(sources);
    writeSafetensors(path.join(tmp, part.folder, part.file), tensors.map((t) => t.entry), (_, k) => tensors[k].bytes(), { format: 'pt' });
    fs.writeFileSync(path.join(tmp, part.folder, 'config.json'), `${JSON.stringify(configs.folders[part.folder](layout.inChannels), null, 2)}\n`);
  }
  fs.writeFileSync(path.join(tmp, 'model_index.json'), `${JSON.stringify(configs.index, null, 2)}\n`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(tmp, dir);
}
