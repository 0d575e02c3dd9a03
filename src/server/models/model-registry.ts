import fs from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError } from '../../errors.js';
import { contextFamily, detectFamily, inspectModelFile, modelRole, type ModelFamily, type ModelRole } from '../../models/inspect.js';
import { resolveModel } from '../../models/library.js';
import { synthesizeModel } from '../../models/synthesize.js';

/** A model the server offers, by id (file name without extension). */
export interface ServedModel {
  id: string;
  path: string;
  role: Exclude<ModelRole, 'unknown' | 'lora'>;
  family: ModelFamily;
  /** Bytes on disk: the estimate of what it takes loaded (weights keep their file types). */
  size: number;
  /** Not a real model: written by diffusekit for a server started without models. */
  synthetic: boolean;
  /** Other names requests may use: the library name or alias it was given by (`--model sd-1.5`). */
  aliases: string[];
}

export const modelIdOf = (file: string): string => path.basename(file, path.extname(file));

/** The demo set served when no model is given: a tiny synthetic text-to-image model and an upscaler. */
export function demoModelFiles(): string[] {
  return [synthesizeModel({ architecture: 'sdxs' }).path, synthesizeModel({ architecture: 'esrgan-x4plus' }).path];
}

/**
 * Inspects each file and sorts it by role; refuses LoRAs (they belong in the LoRA folder) and unknown files.
 * Each entry is a path, or a library name or pulled alias (`--model sd-1.5`), resolved as Pipeline.load does.
 */
export async function loadModelRegistry(files: string[], options: { modelsDir?: string } = {}): Promise<ServedModel[]> {
  const synthetic = files.length === 0;
  const list = synthetic ? demoModelFiles() : files;
  const models: ServedModel[] = [];
  for (const entry of list) {
    const file = await resolveModel(entry, { dir: options.modelsDir });
    const info = await inspectModelFile(file);
    const role = modelRole(info);
    if (role === 'lora') throw new InvalidArgumentError('models', `${file} is a LoRA: put it in the LoRA folder (--lora-dir) and name it in lora_model`);
    if (role === 'unknown') throw new InvalidArgumentError('models', `${file} is not a checkpoint, ControlNet or ESRGAN upscaler this server can serve`);
    const id = modelIdOf(file);
    if (models.some((m) => m.id === id)) throw new InvalidArgumentError('models', `two models are named '${id}': rename one of the files`);
    const aliases = entry !== file && !fs.existsSync(entry) && entry !== id ? [entry] : [];
    models.push({ id, path: file, role, family: role === 'controlnet' ? contextFamily(info) : detectFamily(info), size: info.size || fs.statSync(file).size, synthetic, aliases });
  }
  if (!models.some((m) => m.role === 'checkpoint')) throw new InvalidArgumentError('models', 'no checkpoint among the models: the server needs at least one to generate with');
  return models;
}
