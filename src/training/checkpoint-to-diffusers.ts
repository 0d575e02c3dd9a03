import fs from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError } from '../errors.js';
import { writeDiffusersFolder, type DiffusersArchitecture } from '../models/diffusers-folder.js';
import type { SafetensorsEntry } from '../models/safetensors.js';

/** The float storage types a checkpoint's tensors are copied in as they are (the writer passes dtype through). */
const FLOAT_DTYPES = ['F16', 'BF16', 'F32'];
/** The cross-attention key projection of the first UNet transformer: [320, 768] in SD 1.x (SD 2.x: 1024). */
const SD1_PROBE = 'model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight';
/** SDXL's first transformer (its top level has none): [640, 2048], the two text encoders' widths together. */
const SDXL_PROBE = 'model.diffusion_model.input_blocks.4.1.transformer_blocks.0.attn2.to_k.weight';
/** SDXL's second text encoder as released: the OpenCLIP ViT-bigG tower. */
const SDXL_OPEN_CLIP = 'conditioner.embedders.1.model.transformer.resblocks.0.attn.in_proj_weight';
const INPUT_CONV = 'model.diffusion_model.input_blocks.0.0.weight';

interface StoredTensor extends SafetensorsEntry {
  /** Absolute offset of the tensor's bytes in the file. */
  offset: number;
}

function readEntries(file: string, fd: number): StoredTensor[] {
  const length = Buffer.alloc(8);
  fs.readSync(fd, length, 0, 8, 0);
  const headerLength = Number(length.readBigUInt64LE());
  if (headerLength <= 0 || headerLength > 100 * 1024 * 1024) throw new InvalidArgumentError('base', `${file} is not a safetensors file`);
  const header = Buffer.alloc(headerLength);
  fs.readSync(fd, header, 0, headerLength, 8);
  const parsed = JSON.parse(header.toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  return Object.entries(parsed)
    .filter(([name]) => name !== '__metadata__')
    .map(([name, t]) => ({ name, dtype: t.dtype as SafetensorsEntry['dtype'], shape: t.shape, byteLength: t.data_offsets[1] - t.data_offsets[0], offset: 8 + headerLength + t.data_offsets[0] }));
}

/** Which layout a single-file checkpoint has, from its tensors' names and shapes; undefined for one that is neither. */
function architectureOf(byName: Map<string, SafetensorsEntry>): DiffusersArchitecture | undefined {
  if (byName.get(SD1_PROBE)?.shape[1] === 768) return 'sd1';
  if (byName.get(SDXL_PROBE)?.shape[1] === 2048 && byName.has(SDXL_OPEN_CLIP)) return 'sdxl';
  return undefined;
}

function withEntries<T>(file: string, use: (tensors: StoredTensor[], fd: number) => T): T {
  const fd = fs.openSync(file, 'r');
  try {
    return use(readEntries(file, fd), fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** The layout of a single-file checkpoint the trainer can take ('sd1' or 'sdxl'); an InvalidArgumentError for any other. */
export function checkpointArchitecture(file: string): DiffusersArchitecture {
  if (!file.endsWith('.safetensors')) throw new InvalidArgumentError('base', `The base model ${file} is neither a diffusers folder nor a .safetensors checkpoint: the trainer reads those`);
  const architecture = withEntries(file, (tensors) => architectureOf(new Map(tensors.map((t) => [t.name, t]))));
  if (!architecture) {
    throw new InvalidArgumentError(
      'base',
      `The base model ${path.basename(file)} is not a Stable Diffusion 1.x or SDXL checkpoint (with SDXL's OpenCLIP text encoder under conditioner.embedders.1.model): single-file bases are trained for those; give other models (SD 2.x) as a diffusers folder`,
    );
  }
  return architecture;
}

/**
 * Converts a single-file SD 1.x or SDXL checkpoint (.safetensors, as released and as `synthesizeModel({ architecture:
 * 'sd1' | 'sdxl' })` writes it) into the diffusers folder the trainer loads, with our own name mapping and configs:
 * no network, no diffusers code. The tensors keep their storage type (f16, bf16 or f32; the trainer computes in
 * f32). The folder is written once: an existing one is reused.
 */
export function checkpointToDiffusers(file: string, dir: string): string {
  if (fs.existsSync(path.join(dir, 'model_index.json'))) return dir;
  const architecture = checkpointArchitecture(file);
  withEntries(file, (tensors, fd) => {
    const byName = new Map(tensors.map((t) => [t.name, t]));
    const odd = tensors.find((t) => !FLOAT_DTYPES.includes(t.dtype));
    if (odd) throw new InvalidArgumentError('base', `${path.basename(file)}: tensor ${odd.name} is ${odd.dtype}; the trainer reads f16, bf16 and f32 checkpoints`);
    const inChannels = byName.get(INPUT_CONV)?.shape[1] ?? 4;
    writeDiffusersFolder(dir, { architecture, inChannels }, tensors, (t) => {
      const bytes = Buffer.alloc(t.byteLength);
      fs.readSync(fd, bytes, 0, t.byteLength, (t as StoredTensor).offset);
      return bytes;
    });
  });
  return dir;
}
