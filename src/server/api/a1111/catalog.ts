import fs from 'node:fs';
import path from 'node:path';
import { LORA_EXTENSIONS } from '../../../pipeline/loras.js';
import { A1111_HIRES_UPSCALER_NAMES } from '../../../pipeline/options.js';
import { A1111_SAMPLER_NAMES, A1111_SCHEDULER_NAMES, SAMPLERS, SCHEDULERS } from '../../../pipeline/samplers.js';
import type { ServedModel } from '../../models/model-registry.js';

// What the A1111 list endpoints show: served models under A1111's names (titles with a short hash),
// samplers and schedules in A1111 spelling, upscalers, LoRA files, ControlNet models and modules.

/** The ControlNet preprocessors ("modules") the engine has. */
export const CONTROLNET_MODULES = ['none', 'canny'] as const;

/** A1111 names a checkpoint "file.safetensors [sha256's first 10]", or just the file name before the hash is known. */
export function modelTitle(model: ServedModel, sha256: string | undefined): string {
  const file = path.basename(model.path);
  return sha256 ? `${file} [${sha256.slice(0, 10)}]` : file;
}

/**
 * A served model of `role` by any name an A1111 client uses: the title ("x.safetensors [abc123def0]"), the
 * file name, the model name (our id), or the hash alone. The " [hash]" suffix is not checked: it names
 * the same file.
 */
export function findModel(models: ServedModel[], role: ServedModel['role'], name: string, sha256: (m: ServedModel) => string | undefined): ServedModel | undefined {
  const wanted = name.trim();
  const bare = wanted.replace(/\s*\[[0-9a-f]{8,64}\]$/i, '');
  const candidates = models.filter((m) => m.role === role);
  return (
    candidates.find((m) => m.id === bare || path.basename(m.path) === bare) ??
    candidates.find((m) => {
      const hash = /^[0-9a-f]{10,64}$/i.test(wanted) ? sha256(m) : undefined;
      return hash !== undefined && hash.startsWith(wanted.toLowerCase());
    })
  );
}

export function sdModels(models: ServedModel[], sha256: (m: ServedModel) => string | undefined): Record<string, unknown>[] {
  return models
    .filter((m) => m.role === 'checkpoint')
    .map((m) => {
      const hash = sha256(m);
      return { title: modelTitle(m, hash), model_name: m.id, hash: hash?.slice(0, 10) ?? null, sha256: hash ?? null, filename: m.path, config: null };
    });
}

export function samplers(): Record<string, unknown>[] {
  return SAMPLERS.map((s) => ({ name: A1111_SAMPLER_NAMES[s], aliases: [s], options: {} }));
}

export function schedulers(): Record<string, unknown>[] {
  return [
    { name: 'automatic', label: 'Automatic', aliases: null, default_rho: -1, need_inner_model: false },
    ...SCHEDULERS.map((s) => ({ name: s, label: A1111_SCHEDULER_NAMES[s], aliases: null, default_rho: -1, need_inner_model: false })),
  ];
}

/** Pixel upscalers as A1111 lists them ("None", "Lanczos", "Nearest"), then the served ESRGAN models. */
export function upscalers(models: ServedModel[]): Record<string, unknown>[] {
  const builtin = ['None', 'Lanczos', 'Nearest'].map((name) => ({ name, model_name: null, model_path: null, model_url: null, scale: 4 }));
  const served = models.filter((m) => m.role === 'upscaler').map((m) => ({ name: m.id, model_name: m.id, model_path: m.path, model_url: null, scale: 4 }));
  return [...builtin, ...served];
}

export function latentUpscaleModes(): { name: string }[] {
  return Object.entries(A1111_HIRES_UPSCALER_NAMES)
    .filter(([id]) => id.startsWith('latent'))
    .map(([, name]) => ({ name }));
}

/** The training metadata of a safetensors LoRA (its header's __metadata__), as A1111 shows it; {} otherwise. */
function safetensorsMetadata(file: string): Record<string, unknown> {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, 'r');
    const head = Buffer.alloc(8);
    fs.readSync(fd, head, 0, 8, 0);
    const length = Number(head.readBigUInt64LE(0));
    if (length <= 0 || length > 16 * 1024 * 1024) return {};
    const json = Buffer.alloc(length);
    fs.readSync(fd, json, 0, length, 8);
    const metadata = (JSON.parse(json.toString('utf8')) as { __metadata__?: Record<string, unknown> }).__metadata__;
    return metadata && typeof metadata === 'object' ? metadata : {};
  } catch {
    return {};
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** The LoRA files of the server's LoRA folder: what `<lora:name:weight>` in a prompt can name. */
export function loras(loraDir: string | undefined): Record<string, unknown>[] {
  if (!loraDir) return [];
  let files: string[];
  try {
    files = fs.readdirSync(loraDir);
  } catch {
    return [];
  }
  return files
    .filter((f) => LORA_EXTENSIONS.includes(path.extname(f).toLowerCase()))
    .sort()
    .map((f) => {
      const file = path.resolve(loraDir, f);
      const name = path.basename(f, path.extname(f));
      return { name, alias: name, path: file, metadata: path.extname(f).toLowerCase() === '.safetensors' ? safetensorsMetadata(file) : {} };
    });
}
