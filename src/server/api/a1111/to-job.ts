import sharp from 'sharp';
import type { FitMode } from '../../../pipeline/image-input.js';
import type { MaskedContent } from '../../../pipeline/inpaint-area.js';
import { A1111_HIRES_UPSCALER_NAMES, HIRES_UPSCALERS, type HiresFixOptions } from '../../../pipeline/options.js';
import { A1111_SAMPLER_NAMES, A1111_SCHEDULER_NAMES, resolveScheduler } from '../../../pipeline/samplers.js';
import { ApiError, badRequest } from '../../errors.js';
import type { JobSpec } from '../../jobs/job-spec.js';
import { editsWithReferences } from '../../../models/family-defaults.js';
import type { ServedModel } from '../../models/model-registry.js';
import { storeImageBytes, storeImageInput, type StoredImage } from '../../storage/image-inputs.js';
import { checkPixels, imageTaskSize, JOB_DEFAULTS, randomSeed, removeInputs, samplerOrDefault, type TranslationContext } from '../shared/job-params.js';
import { upscalerByName } from './builtin-upscalers.js';
import { CONTROLNET_MODULES, findModel } from './catalog.js';
import type { ScopedSettings } from './settings.js';

// The A1111 dialect's parameter mapping, all of it: sdapi/v1 request fields -> the canonical JobSpec.

/** A sdapi request body after schema validation (defaults filled in, unknown fields kept and ignored). */
export type A1111Body = Record<string, unknown>;

export interface A1111Context extends TranslationContext {
  /** The caller's A1111 options (default checkpoint, CLIP skip). */
  settings: ScopedSettings;
}

export interface A1111Translation {
  spec: JobSpec;
  /** extra-single-image with resize_mode 1: the exact final size, reached after the upscale. */
  resizeTo?: { width: number; height: number; crop: boolean };
}

/** inpainting_fill: 0 "fill", 1 "original", 2 "latent noise", 3 "latent nothing". */
const INPAINTING_FILLS: Record<number, MaskedContent> = { 0: 'fill', 1: 'original', 2: 'noise', 3: 'nothing' };

/** resize_mode: 0 "Just resize" stretches, 1 "Crop and resize" crops, 2 "Resize and fill" pads, 3 (latent) = 0. */
const RESIZE_MODES: Record<number, FitMode> = { 0: 'fill', 1: 'cover', 2: 'contain', 3: 'fill' };

const str = (v: unknown): string | undefined => (typeof v === 'string' && v.trim().length > 0 ? v.trim() : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
/** A1111 sizes need not be multiples of 8: the latent is 1/8, so the rest is dropped. */
const multipleOf8 = (v: number): number => Math.max(64, Math.floor(v / 8) * 8);
const overrides = (body: A1111Body): Record<string, unknown> => (isObject(body.override_settings) ? body.override_settings : {});

/** The checkpoint of a request: override_settings.sd_model_checkpoint, else the sd_model_checkpoint option, else the first. */
export function checkpointOf(body: A1111Body, context: A1111Context): ServedModel {
  const sha256 = (m: ServedModel) => context.settings.sha256(m);
  const requested = str(overrides(body).sd_model_checkpoint);
  if (requested !== undefined) {
    const model = findModel(context.models, 'checkpoint', requested, sha256);
    if (!model) throw modelNotFound('override_settings.sd_model_checkpoint', requested, context.models, 'checkpoint');
    return model;
  }
  const chosen = context.settings.options().sd_model_checkpoint;
  // A default whose model is no longer served (the server restarted with other models) falls back to the first.
  return (chosen && context.models.find((m) => m.role === 'checkpoint' && m.id === chosen)) || context.models.find((m) => m.role === 'checkpoint')!;
}

export function modelNotFound(parameter: string, name: string, models: ServedModel[], role: ServedModel['role']): ApiError {
  const available = models.filter((m) => m.role === role).map((m) => m.id);
  return badRequest(`${parameter}: no ${role} '${name}' is served (available: ${available.join(', ') || 'none'})`, 'model_not_found');
}

function clipSkip(body: A1111Body, context: A1111Context): number | undefined {
  const value = overrides(body).CLIP_stop_at_last_layers ?? context.settings.options().CLIP_stop_at_last_layers;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 12) {
    throw badRequest(`override_settings.CLIP_stop_at_last_layers: expected an integer from 1 to 12, got ${JSON.stringify(value)}`);
  }
  return value > 1 ? value : undefined;
}

/** sampler_name (or the older sampler_index) and scheduler; "Automatic" leaves the schedule to the sampler. */
function sampling(body: A1111Body, model: ServedModel): Pick<JobSpec, 'sampler' | 'scheduler'> {
  const choice = samplerOrDefault('sampler_name', str(body.sampler_name) ?? str(body.sampler_index), model);
  const scheduler = str(body.scheduler);
  if (scheduler === undefined || scheduler.toLowerCase() === 'automatic') return { sampler: choice.sampler, scheduler: choice.scheduler };
  try {
    return { sampler: choice.sampler, scheduler: resolveScheduler('scheduler', scheduler) };
  } catch (err) {
    throw badRequest((err as Error).message);
  }
}

/** What txt2img and img2img share: prompt, seed, sampling, batch, model. */
function generation(body: A1111Body, context: A1111Context): Omit<JobSpec, 'task'> {
  const samples = (body.batch_size as number) * (body.n_iter as number);
  if (samples > context.limits.maxSamples) {
    throw badRequest(`batch_size x n_iter is ${samples} images; this server makes at most ${context.limits.maxSamples} per request`, 'too_many_images');
  }
  if (str(body.script_name)) throw new ApiError(422, 'script_not_found', `Script '${String(body.script_name)}' not found: this server has no selectable scripts`);
  const seed = num(body.seed) ?? -1;
  const checkpoint = checkpointOf(body, context);
  fillModelDefaults(body, checkpoint);
  return {
    model: checkpoint.id,
    prompt: String(body.prompt ?? ''),
    negativePrompt: str(body.negative_prompt) ?? '',
    samples,
    steps: body.steps as number,
    guidanceScale: body.cfg_scale as number,
    seed: seed < 0 ? randomSeed() : seed,
    ...sampling(body, checkpoint),
    clipSkip: clipSkip(body, context),
    loras: [], // A1111 names LoRAs in the prompt, <lora:name:weight>: the Pipeline reads those tags itself
    outputFormat: 'png',
    nsfwPrompt: false,
  };
}

/**
 * What the request leaves out, from the model (its family's defaults), written into the body: the response's
 * `parameters` echo shows what was used, as A1111's does. img2img sizes stay unset: they follow the init image.
 */
function fillModelDefaults(body: A1111Body, model: ServedModel): void {
  const { defaults } = model;
  body.steps ??= defaults.steps;
  body.cfg_scale ??= defaults.guidanceScale;
  if (body.init_images === undefined) {
    body.width ??= defaults.width;
    body.height ??= defaults.height;
  }
  if (str(body.sampler_name) === undefined && str(body.sampler_index) === undefined) {
    body.sampler_name = A1111_SAMPLER_NAMES[defaults.sampler];
    if (defaults.scheduler && str(body.scheduler) === undefined) body.scheduler = A1111_SCHEDULER_NAMES[defaults.scheduler];
  }
}

/**
 * hr_upscaler: A1111's latent modes and Lanczos/Nearest by name; a served upscaler by id, and A1111's ESRGAN
 * names ("R-ESRGAN 4x+", "ESRGAN_4x", ...) as the first served upscaler; anything else ("None") resizes with Lanczos.
 */
function hiresUpscaler(name: string | undefined, context: A1111Context): { upscaler: (typeof HIRES_UPSCALERS)[number] } | { model: string } {
  if (name === undefined) return { upscaler: 'latent' };
  const wanted = name.toLowerCase();
  const latent = HIRES_UPSCALERS.find((u) => A1111_HIRES_UPSCALER_NAMES[u].toLowerCase() === wanted || u === wanted);
  if (latent) return { upscaler: latent };
  try {
    const choice = upscalerByName('hr_upscaler', name, context.models);
    return 'model' in choice ? { model: choice.model.id } : { upscaler: choice.builtin === 'Nearest' ? 'nearest' : 'lanczos' };
  } catch (err) {
    // The 400 names the latent modes too: they are valid here.
    const latentNames = HIRES_UPSCALERS.filter((u) => u.startsWith('latent')).map((u) => A1111_HIRES_UPSCALER_NAMES[u]);
    throw badRequest(`${(err as Error).message.replace(/\(valid: /, `(valid: ${latentNames.join(', ')}, `)}`, 'upscaler_not_found');
  }
}

/** enable_hr and its hr_* fields as the Pipeline's hiresFix; the final size must fit the pixel budget. */
function hiresFix(body: A1111Body, size: { width: number; height: number }, context: A1111Context): { options: HiresFixOptions; upscalerModel?: string } | undefined {
  if (body.enable_hr !== true) return undefined;
  const [x, y] = [body.hr_resize_x as number, body.hr_resize_y as number];
  let target: { width: number; height: number };
  if (x > 0 || y > 0) {
    // One side given: the other keeps the aspect ratio, as in A1111.
    target = { width: multipleOf8(x > 0 ? x : (y * size.width) / size.height), height: multipleOf8(y > 0 ? y : (x * size.height) / size.width) };
  } else {
    const scale = body.hr_scale as number;
    target = { width: Math.round((size.width * scale) / 8) * 8, height: Math.round((size.height * scale) / 8) * 8 };
  }
  if (target.width > context.limits.maxSide || target.height > context.limits.maxSide) {
    throw badRequest(`hires fix: the result (${target.width}x${target.height}) would be larger than ${context.limits.maxSide} pixels on a side`, 'size_too_large');
  }
  checkPixels(context.limits, target.width, target.height, 'the hires fix result');
  const upscaler = hiresUpscaler(str(body.hr_upscaler), context);
  const options: HiresFixOptions = {
    ...target,
    steps: (body.hr_second_pass_steps as number) > 0 ? (body.hr_second_pass_steps as number) : undefined,
    denoisingStrength: num(body.denoising_strength) ?? 0.7,
    upscaler: 'upscaler' in upscaler ? upscaler.upscaler : undefined,
  };
  return { options, upscalerModel: 'model' in upscaler ? upscaler.model : undefined };
}

type StoreImage = (parameter: string, value: unknown) => Promise<StoredImage>;

/** Runs a translation that stores images; on failure the stored images are removed (no job will). */
async function withStoredImages(context: A1111Context, translate: (store: StoreImage, stored: string[]) => Promise<A1111Translation>): Promise<A1111Translation> {
  const stored: string[] = [];
  const store: StoreImage = async (parameter, value) => {
    const image = await storeImageInput(parameter, value, context.images);
    stored.push(image.file);
    return image;
  };
  try {
    return await translate(store, stored);
  } catch (err) {
    removeInputs(context.images.storage, stored);
    throw err;
  }
}

/**
 * alwayson_scripts.controlnet in the sd-webui-controlnet shape: the first enabled unit's image (`image` or
 * `input_image`; default the img2img input), module ("none" or "canny"), model (a served ControlNet; the
 * " [hash]" A1111 appends is ignored) and weight. Other extensions are refused with 422, as A1111 does.
 */
async function controlNet(body: A1111Body, context: A1111Context, checkpoint: ServedModel, store: StoreImage, fallbackImage?: StoredImage): Promise<Partial<JobSpec> | undefined> {
  const scripts = isObject(body.alwayson_scripts) ? body.alwayson_scripts : {};
  let unit: Record<string, unknown> | undefined;
  for (const [name, script] of Object.entries(scripts)) {
    if (name.toLowerCase() !== 'controlnet') throw new ApiError(422, 'script_not_found', `always on script ${name} not found (this server has: controlnet)`);
    const args = isObject(script) && Array.isArray(script.args) ? script.args : [];
    const enabled = args.filter((u): u is Record<string, unknown> => isObject(u) && u.enabled !== false && u.enabled !== 0);
    if (enabled.length > 1) throw badRequest('alwayson_scripts.controlnet: one enabled ControlNet unit at a time on this server', 'unsupported');
    unit = enabled[0];
  }
  if (!unit) return undefined;
  const modelName = str(unit.model);
  if (!modelName || modelName.toLowerCase() === 'none') throw badRequest('alwayson_scripts.controlnet.args[0].model: name a ControlNet model (see /controlnet/model_list)', 'model_not_found');
  const controlnet = findModel(context.models, 'controlnet', modelName, () => undefined);
  if (!controlnet) throw modelNotFound('alwayson_scripts.controlnet.args[0].model', modelName, context.models, 'controlnet');
  if (controlnet.family !== 'unknown' && checkpoint.family !== 'unknown' && controlnet.family !== checkpoint.family) {
    throw badRequest(`alwayson_scripts.controlnet.args[0].model: '${controlnet.id}' is for ${controlnet.family} models but '${checkpoint.id}' is ${checkpoint.family}`);
  }
  const module = (str(unit.module) ?? 'none').toLowerCase();
  if (!(CONTROLNET_MODULES as readonly string[]).includes(module)) {
    throw badRequest(`alwayson_scripts.controlnet.args[0].module: '${module}' is not available (this server has: ${CONTROLNET_MODULES.join(', ')})`, 'unsupported');
  }
  const weight = unit.weight ?? 1;
  if (typeof weight !== 'number' || weight < 0 || weight > 2) throw badRequest(`alwayson_scripts.controlnet.args[0].weight: expected a number from 0 to 2, got ${JSON.stringify(weight)}`);
  const given = unit.image ?? unit.input_image;
  // Newer units send { image, mask } objects; the mask (for inpaint ControlNets) is not used.
  const value = isObject(given) ? given.image : given;
  let control: StoredImage;
  if (value !== undefined && value !== null && value !== '') control = await store('alwayson_scripts.controlnet.args[0].image', value);
  else if (fallbackImage) control = fallbackImage;
  else throw badRequest('alwayson_scripts.controlnet.args[0].image: txt2img needs the unit\'s image (base64)', 'missing_image');
  return { controlnetModel: controlnet.id, controlImage: control.file, controlStrength: weight, preprocess: module === 'canny' ? 'canny' : undefined };
}

export function txt2imgToJob(body: A1111Body, context: A1111Context): Promise<A1111Translation> {
  return withStoredImages(context, async (store) => {
    const base = generation(body, context);
    const size = { width: multipleOf8(body.width as number), height: multipleOf8(body.height as number) };
    checkPixels(context.limits, size.width, size.height, 'width x height');
    const control = await controlNet(body, context, context.models.find((m) => m.id === base.model)!, store);
    const spec: JobSpec = { task: control ? 'controlnet' : 'txt2img', ...base, ...size, ...control };
    const hires = hiresFix(body, size, context);
    if (hires) {
      spec.hiresFix = hires.options;
      if (hires.upscalerModel) spec.hiresUpscalerModel = hires.upscalerModel;
    }
    return { spec };
  });
}

/**
 * img2img, or inpainting with a mask. The mask is made the init image's size (A1111 resizes it too) and
 * inverted for inpainting_mask_invert, here, so the job gets a plain white-repaints mask.
 */
export function img2imgToJob(body: A1111Body, context: A1111Context): Promise<A1111Translation> {
  return withStoredImages(context, async (store, stored) => {
    const base = generation(body, context);
    const init = await store('init_images[0]', (body.init_images as string[])[0]);
    const requested = { width: num(body.width) && multipleOf8(body.width as number), height: num(body.height) && multipleOf8(body.height as number) };
    if ((requested.width === undefined) !== (requested.height === undefined)) {
      // One side given: the other follows the init image's aspect ratio.
      if (requested.width) requested.height = multipleOf8((requested.width * init.height) / init.width);
      else requested.width = multipleOf8((requested.height! * init.width) / init.height);
    }
    const size = imageTaskSize(requested, init, context.limits, { input: 'init_images[0]', size: 'width x height', hint: 'width and height' });
    const maskValue = str(body.mask);
    const checkpoint = context.models.find((m) => m.id === base.model)!;
    if (!maskValue && editsWithReferences(checkpoint.family, checkpoint.variant)) {
      // Forge's way with Kontext-style models: img2img without a mask edits by the prompt, the init image as reference.
      return { spec: { task: 'edit', ...base, ...size, refImages: [init.file] } };
    }
    const spec: JobSpec = { task: maskValue ? 'inpaint' : 'img2img', ...base, ...size, initImage: init.file, fit: RESIZE_MODES[body.resize_mode as number] };
    spec.strength = num(body.denoising_strength) ?? (maskValue ? JOB_DEFAULTS.inpaintStrength : JOB_DEFAULTS.img2imgStrength);
    if (maskValue) {
      const invert = body.inpainting_mask_invert === 1 || body.inpainting_mask_invert === true;
      const mask = await preparedMask(await store('mask', maskValue), init, invert, context, stored);
      spec.maskImage = mask.file;
      spec.maskBlur = num(body.mask_blur) ?? 4;
      spec.maskedContent = INPAINTING_FILLS[(body.inpainting_fill as number | undefined) ?? 1];
      if (body.inpaint_full_res === true || body.inpaint_full_res === 1) spec.onlyMaskedPadding = num(body.inpaint_full_res_padding) ?? 32;
    }
    const control = await controlNet(body, context, checkpoint, store, init);
    if (control) {
      Object.assign(spec, control);
      if (spec.task === 'img2img') spec.task = 'controlnet';
    }
    return { spec };
  });
}

/** The mask at the init image's size, inverted if asked; stored anew only when it had to change. */
async function preparedMask(mask: StoredImage, init: StoredImage, invert: boolean, context: A1111Context, stored: string[]): Promise<StoredImage> {
  if (!invert && mask.width === init.width && mask.height === init.height) return mask;
  let pipeline = sharp(await context.images.storage.read('inputs', mask.file)).rotate().flatten({ background: '#000000' }).greyscale().resize(init.width, init.height, { fit: 'fill' });
  if (invert) pipeline = pipeline.negate({ alpha: false });
  const converted = await storeImageBytes('mask', await pipeline.png().toBuffer(), context.images);
  stored.push(converted.file);
  removeInputs(context.images.storage, [mask.file]);
  return converted;
}

/** extra-single-image asks for what no upscaler here does: face restoration (400, whichever upscaler it names). */
export function refuseFaceRestoration(body: A1111Body): void {
  if ((body.gfpgan_visibility as number) > 0 || (body.codeformer_visibility as number) > 0) {
    throw badRequest('gfpgan_visibility / codeformer_visibility: face restoration is not available in this server', 'unsupported');
  }
}

/** extra-single-image by a served ESRGAN upscaler (built-in ones resize without a job: builtin-upscalers.ts). */
export function extrasToJob(body: A1111Body, model: ServedModel, context: A1111Context): Promise<A1111Translation> {
  return withStoredImages(context, async (store) => {
    const input = await store('image', body.image);
    let scale = body.upscaling_resize as number;
    let resizeTo: A1111Translation['resizeTo'];
    if (body.resize_mode === 1) {
      resizeTo = { width: body.upscaling_resize_w as number, height: body.upscaling_resize_h as number, crop: body.upscaling_crop !== false };
      // Upscaled to cover the target, then cropped (upscaling_crop) or stretched to it.
      scale = Math.min(8, Math.max(1, resizeTo.width / input.width, resizeTo.height / input.height));
    }
    const [width, height] = [Math.round(input.width * scale), Math.round(input.height * scale)];
    if (width > context.limits.maxSide || height > context.limits.maxSide) {
      throw badRequest(`the result (${width}x${height}) would be larger than ${context.limits.maxSide} pixels on a side`, 'size_too_large');
    }
    const spec: JobSpec = { task: 'upscale', model: model.id, prompt: '', negativePrompt: '', samples: 1, steps: 0, guidanceScale: 0, seed: 0, loras: [], initImage: input.file, scale, outputFormat: 'png', nsfwPrompt: false };
    return { spec, resizeTo };
  });
}
