import fs from 'node:fs/promises';
import path from 'node:path';
import { ModelFileError } from '../errors.js';
import type { ModelComponents } from './components.js';
import { detectFamily, inspectModelFile, modelRole, textEncoderKind, visionEncoderKind, type ModelFileInfo } from './inspect.js';

// A split model as one folder: the diffusion model, its VAE and text encoders side by side, each told by what
// it holds (not by its name). `-m folder`, `Pipeline.load({ model: folder })` and `serve --model folder` all
// read it here; the folder's name is the model's name.

/** File extensions a component set lists. */
const COMPONENT_EXTENSIONS = ['.safetensors', '.sft', '.gguf', '.ckpt', '.pt', '.pth', '.bin'];

export interface ComponentSet {
  /** The folder's name: the model's name. */
  name: string;
  /** `model` where the diffusion model's file is a whole checkpoint (prefixed names, maybe with its VAE). */
  components: ModelComponents;
  /** The diffusion model's file: `model` or `diffusionModel`. */
  denoiser: ModelFileInfo;
  files: ModelFileInfo[];
}

/** Whether `dir` is a component set: a folder that is not a diffusers model (no unet/). */
export async function isComponentFolder(dir: string): Promise<boolean> {
  const stat = await fs.stat(dir).catch(() => undefined);
  if (!stat?.isDirectory()) return false;
  return !(await fs.stat(path.join(dir, 'unet')).catch(() => undefined));
}

/** Reads a component folder: one diffusion model, at most one of each other component. */
export async function readComponentSet(dir: string): Promise<ComponentSet> {
  const fail = (why: string) => new ModelFileError(dir, `model folder ${dir}: ${why}`);
  const names = (await fs.readdir(dir)).filter((f) => COMPONENT_EXTENSIONS.includes(path.extname(f).toLowerCase())).sort();
  if (names.length === 0) {
    throw fail(`is a folder but not a diffusers model (no unet/diffusion_pytorch_model.safetensors), nor a split model's files (none of ${COMPONENT_EXTENSIONS.join(', ')})`);
  }
  const components: Partial<Record<keyof ModelComponents, string>> = {};
  const files: ModelFileInfo[] = [];
  const place = (key: keyof ModelComponents, info: ModelFileInfo) => {
    if (components[key]) throw fail(`two files for ${key}: ${path.basename(components[key]!)} and ${path.basename(info.path)}`);
    components[key] = info.path;
  };
  for (const name of names) {
    const info = await inspectModelFile(path.join(dir, name), 'component');
    files.push(info);
    const role = modelRole(info);
    // A whole checkpoint's names carry their prefix (model.diffusion_model.*): the engine loads it as `model`.
    const whole = info.tensorNames?.some((n) => n.startsWith('model.diffusion_model.')) ?? false;
    if (role === 'checkpoint' && detectFamily(info) !== 'unknown') place(name.includes('high_noise') ? 'highNoiseDiffusionModel' : whole ? 'model' : 'diffusionModel', info);
    else if (role === 'vae') place(/taesd|^tae/i.test(name) ? 'taesd' : 'vae', info);
    else if (role === 'text-encoder') place(textEncoderSlot(info), info);
    else if (role === 'vision-encoder') place(visionEncoderKind(info) === 'llm' ? 'llmVision' : 'clipVision', info);
    else if (role === 'controlnet') place('controlNet', info);
    else throw fail(`${name} is not a diffusion model, VAE, text or vision encoder or ControlNet`);
  }
  const main = components.model ?? components.diffusionModel;
  if (!main) throw fail('holds no diffusion model');
  if (components.model && components.diffusionModel) throw fail(`two diffusion models: ${path.basename(components.model)} and ${path.basename(components.diffusionModel)}`);
  return { name: path.basename(dir), components, denoiser: files.find((f) => f.path === main)!, files };
}

/** CLIP-L (768 wide) and CLIP-G (1280) by their token embedding; T5 and LLMs by kind. */
function textEncoderSlot(info: ModelFileInfo): keyof ModelComponents {
  const kind = textEncoderKind(info);
  if (kind === 't5') return 't5xxl';
  if (kind === 'llm') return 'llm';
  const embedding = [...(info.shapes?.entries() ?? [])].find(([n]) => n.endsWith('token_embedding.weight'));
  const width = embedding && (info.format === 'gguf' ? embedding[1][0] : embedding[1][embedding[1].length - 1]);
  return width === 1280 ? 'clipG' : 'clipL';
}
