import fs from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError } from '../../errors.js';
import { contextFamily, detectFamily, inspectModelFile, latentChannels, modelRole, wanVariant, type ModelFamily, type ModelFileInfo } from '../../models/inspect.js';
import { familyDefaults, modelVariant, type GenerationDefaults, type ModelVariant } from '../../models/family-defaults.js';
import { checkComponents } from '../../models/component-check.js';
import { isComponentFolder, readComponentSet } from '../../models/component-set.js';
import { resolveModel } from '../../models/library.js';
import { synthesizeModel } from '../../models/synthesize.js';

/** A model the server offers, by id (file name without extension). */
export interface ServedModel {
  id: string;
  path: string;
  /** 'video': a video diffusion model (Wan), served by the video endpoints with its `components`. */
  role: 'checkpoint' | 'controlnet' | 'upscaler' | 'video';
  family: ModelFamily;
  /** A distilled or specialised checkpoint of the family (turbo, lightning, LCM, schnell...). */
  variant?: ModelVariant;
  /** What a request that says nothing gets (size, steps, CFG, sampler), in every dialect: family-defaults.ts. */
  defaults: GenerationDefaults;
  /** Bytes on disk: the estimate of what it takes loaded (weights keep their file types). */
  size: number;
  /** Not a real model: written by diffusekit for a server started without models. */
  synthetic: boolean;
  /** Other names requests may use: the library name or alias it was given by (`--model sd-1.5`). */
  aliases: string[];
  /** Video models: the component files served with it (given as `--model` files too). */
  components?: { vae: string; t5xxl?: string; clipVision?: string; highNoiseDiffusionModel?: string };
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
  const videoInfo = new Map<ServedModel, ModelFileInfo>();
  const vaes: ModelFileInfo[] = [];
  const textEncoders: ModelFileInfo[] = [];
  const visionEncoders: ModelFileInfo[] = [];
  for (const entry of list) {
    const file = await resolveModel(entry, { dir: options.modelsDir });
    if (await isComponentFolder(file)) {
      models.push(await componentFolderModel(file, entry, synthetic, models));
      continue;
    }
    const info = await inspectModelFile(file);
    const detected = modelRole(info);
    if (detected === 'lora') throw new InvalidArgumentError('models', `${file} is a LoRA: put it in the LoRA folder (--lora-dir) and name it in lora_model`);
    if (detected === 'unknown') throw new InvalidArgumentError('models', `${file} is not a checkpoint, video model, VAE, text encoder, ControlNet or ESRGAN upscaler this server can serve`);
    if (detected === 'vae' || detected === 'text-encoder' || detected === 'vision-encoder') {
      ({ vae: vaes, 'text-encoder': textEncoders, 'vision-encoder': visionEncoders })[detected].push(info);
      continue;
    }
    const id = modelIdOf(file);
    if (models.some((m) => m.id === id)) throw new InvalidArgumentError('models', `two models are named '${id}': rename one of the files`);
    const aliases = entry !== file && !fs.existsSync(entry) && entry !== id ? [entry] : [];
    const family = detected === 'controlnet' ? contextFamily(info) : detectFamily(info);
    const role = family === 'wan' ? 'video' : detected;
    const variant = modelVariant(family, [id, ...aliases], [info]);
    const model: ServedModel = { id, path: file, role, family, variant, defaults: familyDefaults(family, variant), size: info.size || fs.statSync(file).size, synthetic, aliases };
    if (role === 'video') videoInfo.set(model, info);
    models.push(model);
  }
  for (const [model, info] of videoInfo) attachVideoComponents(model, info, vaes, textEncoders, visionEncoders);
  pairMoeExperts(models);
  if (!models.some((m) => m.role === 'checkpoint' || m.role === 'video')) {
    throw new InvalidArgumentError('models', 'no checkpoint or video model among the models: the server needs at least one to generate with');
  }
  return models;
}

/**
 * A split model served from its folder (diffusion model, VAE, text encoders side by side: component-set.ts):
 * served under the folder's name; the worker loads the folder, which Pipeline.load reads the same way.
 */
async function componentFolderModel(dir: string, entry: string, synthetic: boolean, served: ServedModel[]): Promise<ServedModel> {
  const set = await readComponentSet(dir);
  const denoiser = set.denoiser;
  const family = detectFamily(denoiser);
  if (family === 'wan') throw new InvalidArgumentError('models', `${dir} is a Wan video model: give its files as separate --model entries`);
  checkComponents(family, Object.fromEntries(Object.entries(set.components).map(([key, file]) => [key, set.files.find((f) => f.path === file)])));
  if (served.some((m) => m.id === set.name)) throw new InvalidArgumentError('models', `two models are named '${set.name}': rename one of them`);
  const aliases = entry !== dir && entry !== set.name ? [entry] : [];
  const variant = modelVariant(family, [set.name, ...aliases, path.basename(denoiser.path)], [denoiser]);
  const size = set.files.reduce((n, f) => n + f.size, 0);
  return { id: set.name, path: dir, role: 'checkpoint', family, variant, defaults: familyDefaults(family, variant), size, synthetic, aliases };
}

/** Gives a Wan model the VAE whose latent it samples (16 channels, 48 for TI2V 5B) and the text encoder, if one is served. */
function attachVideoComponents(model: ServedModel, info: ModelFileInfo, vaes: ModelFileInfo[], textEncoders: ModelFileInfo[], visionEncoders: ModelFileInfo[]): void {
  const variant = wanVariant(info);
  const channels = variant === 'ti2v' ? 48 : 16;
  const vae = vaes.find((v) => latentChannels(v) === channels);
  if (!vae) {
    throw new InvalidArgumentError('models', `the video model '${model.id}' needs a VAE with ${channels} latent channels (${channels === 48 ? 'wan2.2_vae' : 'wan_2.1_vae'}): add it as another --model`);
  }
  // Image-to-video models (36 input channels) condition on a CLIP vision encoder as well.
  const vision = variant === 'i2v' ? visionEncoders[0] : undefined;
  if (variant === 'i2v' && !vision) throw new InvalidArgumentError('models', `the image-to-video model '${model.id}' needs a CLIP vision encoder (clip_vision_h): add it as another --model`);
  model.components = { vae: vae.path, t5xxl: textEncoders[0]?.path, clipVision: vision?.path };
  model.size += vae.size + (textEncoders[0]?.size ?? 0) + (vision?.size ?? 0);
}

/**
 * Wan2.2 A14B comes as two experts of one architecture, told apart only by their file names (ComfyUI's
 * ..._high_noise_... and ..._low_noise_...): the high-noise one joins the low-noise one, which is served.
 */
function pairMoeExperts(models: ServedModel[]): void {
  for (const high of models.filter((m) => m.role === 'video' && m.id.includes('high_noise'))) {
    const low = models.find((m) => m.role === 'video' && m.id === high.id.replace('high_noise', 'low_noise'));
    if (!low) throw new InvalidArgumentError('models', `'${high.id}' is a high-noise expert: serve it with its low-noise model (${high.id.replace('high_noise', 'low_noise')})`);
    low.components = { ...low.components!, highNoiseDiffusionModel: high.path };
    low.size += high.size;
    models.splice(models.indexOf(high), 1);
  }
}
