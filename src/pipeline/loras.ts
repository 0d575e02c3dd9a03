import fs from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError } from '../errors.js';

const LORA_TAG = /<lora:([^:>]+):([^>]+)>/g;
const LORA_EXTENSIONS = ['.safetensors', '.ckpt', '.pt', '.gguf'];

export interface PromptLoras {
  /** The prompt without its `<lora:...>` tags. */
  prompt: string;
  loras: { path: string; multiplier: number }[];
}

/** Takes A1111-style `<lora:name:weight>` tags out of a prompt and finds each file in `loraDir`. */
export function extractLoras(prompt: string, loraDir: string | undefined): PromptLoras {
  const loras: PromptLoras['loras'] = [];
  const stripped = prompt.replace(LORA_TAG, (_, name: string, weight: string) => {
    const multiplier = Number(weight);
    if (!Number.isFinite(multiplier)) {
      throw new InvalidArgumentError('prompt', `Expected a number for the weight of <lora:${name}:...> but received ${JSON.stringify(weight)}`);
    }
    if (!loraDir) throw new InvalidArgumentError('prompt', `The prompt uses <lora:${name}:${weight}> but the Pipeline was loaded without loraDir`);
    const file = LORA_EXTENSIONS.map((ext) => path.join(loraDir, name + ext)).find((f) => fs.existsSync(f));
    if (!file) throw new InvalidArgumentError('prompt', `LoRA '${name}' not found in ${loraDir} (looked for ${LORA_EXTENSIONS.join(', ')})`);
    loras.push({ path: file, multiplier });
    return '';
  });
  return { prompt: stripped.replace(/\s{2,}/g, ' ').trim(), loras };
}
