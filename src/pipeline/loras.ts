import fs from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError } from '../errors.js';
import { invalidParameter, isPlainObject, isString, numberIn } from '../util/is.js';

const LORA_TAG = /<lora:([^:>]+):([^>]+)>/g;
/** The LoRA file types looked for in a LoRA folder. */
export const LORA_EXTENSIONS = ['.safetensors', '.ckpt', '.pt', '.gguf'];

export interface PromptLoras {
  /** The prompt without its `<lora:...>` tags. */
  prompt: string;
  loras: { path: string; multiplier: number }[];
}

export interface LoraSpec {
  /** A LoRA file. */
  path?: string;
  /** A LoRA in `loraDir`, by file name without extension. */
  name?: string;
  /** Strength; 1 is the LoRA as trained, 0 turns it off. Default 1. */
  weight?: number;
}

function findInDir(name: string, loraDir: string | undefined, parameter: string, usage: string): string {
  if (!loraDir) throw new InvalidArgumentError(parameter, `${usage} but the Pipeline was loaded without loraDir`);
  const file = LORA_EXTENSIONS.map((ext) => path.join(loraDir, name + ext)).find((f) => fs.existsSync(f));
  if (!file) throw new InvalidArgumentError(parameter, `LoRA '${name}' not found in ${loraDir} (looked for ${LORA_EXTENSIONS.join(', ')})`);
  return file;
}

/** Resolves the `loras` option: each entry by path, or by name in `loraDir`. */
export function resolveLoras(list: unknown, loraDir: string | undefined): PromptLoras['loras'] {
  if (list === undefined) return [];
  if (!Array.isArray(list)) throw invalidParameter('loras', 'array of { path | name, weight }', list);
  return list.map((entry: unknown, i) => {
    const parameter = `loras[${i}]`;
    if (!isPlainObject(entry)) throw invalidParameter(parameter, '{ path | name, weight }', entry);
    const multiplier = numberIn(`${parameter}.weight`, entry.weight, -10, 10, 1);
    if (isString(entry.path)) {
      if (!fs.existsSync(entry.path)) throw new InvalidArgumentError(parameter, `LoRA file not found: ${entry.path}`);
      return { path: path.resolve(entry.path), multiplier };
    }
    if (isString(entry.name)) return { path: findInDir(entry.name, loraDir, parameter, `${parameter} names LoRA '${entry.name}'`), multiplier };
    throw invalidParameter(parameter, '{ path } or { name }', entry);
  });
}

/** Takes A1111-style `<lora:name:weight>` tags out of a prompt and finds each file in `loraDir`. */
export function extractLoras(prompt: string, loraDir: string | undefined): PromptLoras {
  const loras: PromptLoras['loras'] = [];
  const stripped = prompt.replace(LORA_TAG, (_, name: string, weight: string) => {
    const multiplier = Number(weight);
    if (!Number.isFinite(multiplier)) {
      throw new InvalidArgumentError('prompt', `Expected a number for the weight of <lora:${name}:...> but received ${JSON.stringify(weight)}`);
    }
    loras.push({ path: findInDir(name, loraDir, 'prompt', `The prompt uses <lora:${name}:${weight}>`), multiplier });
    return '';
  });
  return { prompt: stripped.replace(/\s{2,}/g, ' ').trim(), loras };
}
