import { A1111_SAMPLER_NAMES } from '../../../pipeline/samplers.js';
import type { ServerLimits } from '../../config.js';
import { badRequest } from '../../errors.js';
import type { JobLora, JobSpec, JobTask, OutputFormat } from '../../jobs/job-spec.js';
import { preparePrompt, type PromptPreparation } from '../../jobs/prompt-preparation.js';
import { storeImageInput, type ImageInputSettings, type StoredImage } from '../../storage/image-inputs.js';
import { checkPixels, imageTaskSize as fitImageTaskSize, JOB_DEFAULTS as DEFAULTS, pickModel, randomSeed, removeInputs, samplerOrDefault, type TranslationContext } from '../shared/job-params.js';

/** A v6 request body after schema validation (types coerced, unknown fields kept and ignored). */
export type V6Body = Record<string, unknown>;

export interface V6Translation {
  spec: JobSpec;
  /** The effective parameters under their v6 names, returned as `meta`. */
  meta: Record<string, unknown>;
}

export type V6Context = TranslationContext;

const yes = (v: unknown): boolean => v === 'yes' || v === 'true';
const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);

function parseLoras(body: V6Body): JobLora[] {
  const names = (str(body.lora_model) ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const strengths = String(body.lora_strength ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  if (strengths.length > names.length) throw badRequest(`lora_strength: ${strengths.length} strengths for ${names.length} LoRAs`);
  return names.map((name, i) => {
    if (!/^[\w.+-]+$/.test(name)) throw badRequest(`lora_model: '${name}' is not a LoRA id (letters, digits, . _ + -)`);
    const strength = strengths[i] === undefined ? 1 : Number(strengths[i]);
    if (!Number.isFinite(strength) || strength < -10 || strength > 10) throw badRequest(`lora_strength: '${strengths[i]}' is not a number between -10 and 10`);
    return { name, strength };
  });
}

function outputFormat(body: V6Body): OutputFormat {
  const format = str(body.output_format) ?? 'png';
  return format === 'jpg' ? 'jpeg' : (format as OutputFormat);
}

/** The size of an image task: explicit width/height, else the input's, rounded down to multiples of 8. */
function imageTaskSize(body: V6Body, input: StoredImage, limits: ServerLimits): { width: number; height: number } {
  const requested = { width: body.width as number | undefined, height: body.height as number | undefined };
  return fitImageTaskSize(requested, input, limits, { input: 'init_image', size: 'width x height', hint: 'width and height' });
}

/**
 * Translates a validated v6 request into the canonical JobSpec, fetching and storing its images. Checks
 * what a schema cannot: model ids and roles, LoRA lists, sampler names, pixel budgets, image contents.
 */
export async function v6ToJob(task: JobTask, body: V6Body, context: V6Context): Promise<V6Translation> {
  // Images are stored as they are read; a request refused after that (a bad mask, a size over the limit)
  // has no job to remove them when it ends, so they go now.
  const stored: string[] = [];
  const storeImage = async (parameter: string, value: unknown, settings: ImageInputSettings): Promise<StoredImage> => {
    const image = await storeImageInput(parameter, value, settings);
    stored.push(image.file);
    return image;
  };
  try {
    return await translate(task, body, context, storeImage);
  } catch (err) {
    removeInputs(context.images.storage, stored);
    throw err;
  }
}

async function translate(task: JobTask, body: V6Body, context: V6Context, storeImage: typeof storeImageInput): Promise<V6Translation> {
  const { limits } = context;
  const format = outputFormat(body);
  if (task === 'upscale') {
    if (yes(body.face_enhance)) throw badRequest('face_enhance: face restoration is not available in this server (no GFPGAN/CodeFormer in the engine)', 'unsupported');
    const model = pickModel(context.models, body.model_id, 'upscaler', 'model_id');
    const input = await storeImage('init_image', body.init_image, context.images);
    const scale = (body.scale as number | undefined) ?? undefined;
    const factor = scale ?? 4;
    const [width, height] = [Math.round(input.width * factor), Math.round(input.height * factor)];
    if (width > limits.maxSide || height > limits.maxSide) throw badRequest(`the result (${width}x${height}) would be larger than ${limits.maxSide} pixels on a side`, 'size_too_large');
    const spec: JobSpec = { task, model: model.id, prompt: '', negativePrompt: '', samples: 1, steps: 0, guidanceScale: 0, seed: 0, loras: [], initImage: input.file, scale, outputFormat: format, nsfwPrompt: false };
    return { spec, meta: { model_id: model.id, scale: scale ?? null, output_format: format, init_image_size: `${input.width}x${input.height}` } };
  }

  if (task === 'txt2video' || task === 'img2video') return translateVideo(task, body, context, storeImage);

  const model = pickModel(context.models, body.model_id, 'checkpoint', 'model_id');
  const prompt = String(body.prompt ?? '');
  const prepared = await preparePrompt(prompt, { enhance: yes(body.enhance_prompt), translate: yes(body.multi_lingual) }, context.promptModel);
  const effectivePrompt = prepared.prompt;
  const choice = samplerOrDefault('scheduler', str(body.scheduler), model);
  const schedulerName = str(body.scheduler) ?? choice.sampler;
  const loras = parseLoras(body);
  const safety = yes(body.safety_checker);
  // Both prompts are checked: a translation or rewrite must not launder a flagged word.
  const flaggedTerm = safety ? context.promptFilter.flagged(effectivePrompt) ?? context.promptFilter.flagged(prompt) : undefined;
  const seed = (body.seed as number | null | undefined) ?? randomSeed();
  const spec: JobSpec = {
    task,
    model: model.id,
    prompt: effectivePrompt,
    negativePrompt: str(body.negative_prompt) ?? '',
    samples: (body.samples as number | undefined) ?? 1,
    steps: (body.num_inference_steps as number | undefined) ?? model.defaults.steps,
    guidanceScale: (body.guidance_scale as number | undefined) ?? model.defaults.guidanceScale,
    seed,
    sampler: choice.sampler,
    scheduler: choice.scheduler,
    clipSkip: body.clip_skip as number | undefined,
    loras,
    outputFormat: format,
    nsfwPrompt: flaggedTerm !== undefined,
    safetyCheck: safety,
  };

  if (task === 'txt2img') {
    spec.width = (body.width as number | undefined) ?? model.defaults.width;
    spec.height = (body.height as number | undefined) ?? model.defaults.height;
    checkPixels(limits, spec.width, spec.height, 'width x height');
  }
  if (task === 'controlnet') {
    const controlnet = pickModel(context.models, body.controlnet_model, 'controlnet', 'controlnet_model');
    if (controlnet.family !== 'unknown' && model.family !== 'unknown' && controlnet.family !== model.family) {
      throw badRequest(`controlnet_model: '${controlnet.id}' is for ${controlnet.family} models but '${model.id}' is ${model.family}`);
    }
    if (body.control_image === undefined && body.init_image === undefined) throw badRequest('controlnet needs control_image or init_image (the guidance image)', 'missing_image');
    spec.controlnetModel = controlnet.id;
    spec.controlStrength = (body.controlnet_conditioning_scale as number | undefined) ?? 1;
    if (yes(body.auto_hint)) spec.preprocess = 'canny';
    const control = await storeImage(body.control_image !== undefined ? 'control_image' : 'init_image', body.control_image ?? body.init_image, context.images);
    spec.controlImage = control.file;
    if (body.control_image !== undefined && body.init_image !== undefined) {
      const init = await storeImage('init_image', body.init_image, context.images);
      spec.initImage = init.file;
      spec.strength = (body.strength as number | undefined) ?? DEFAULTS.img2imgStrength;
      Object.assign(spec, imageTaskSize(body, init, limits));
    } else {
      Object.assign(spec, imageTaskSize(body, control, limits));
    }
  }
  if (task === 'img2img' || task === 'inpaint' || task === 'outpaint') {
    const init = await storeImage('init_image', body.init_image, context.images);
    spec.initImage = init.file;
    if (task === 'outpaint') {
      const extend = { left: (body.left as number) ?? 0, right: (body.right as number) ?? 0, top: (body.top as number) ?? 0, bottom: (body.bottom as number) ?? 0 };
      if (extend.left + extend.right + extend.top + extend.bottom === 0) throw badRequest('outpaint needs at least one of left, right, top, bottom above 0');
      spec.extend = extend;
      const [width, height] = [init.width + extend.left + extend.right, init.height + extend.top + extend.bottom];
      if (width > limits.maxSide || height > limits.maxSide) throw badRequest(`the outpainted image (${width}x${height}) would be larger than ${limits.maxSide} pixels on a side`, 'size_too_large');
      checkPixels(limits, width, height, 'the outpainted image');
    } else {
      Object.assign(spec, imageTaskSize(body, init, limits));
      spec.strength = (body.strength as number | undefined) ?? (task === 'inpaint' ? DEFAULTS.inpaintStrength : DEFAULTS.img2imgStrength);
    }
    if (task === 'inpaint') spec.maskImage = (await storeImage('mask_image', body.mask_image, context.images)).file;
  }

  const meta: Record<string, unknown> = {
    model_id: model.id,
    prompt: spec.prompt,
    negative_prompt: spec.negativePrompt,
    width: spec.width ?? null,
    height: spec.height ?? null,
    samples: spec.samples,
    num_inference_steps: spec.steps,
    guidance_scale: spec.guidanceScale,
    seed: spec.seed,
    scheduler: schedulerName,
    sampler: A1111_SAMPLER_NAMES[spec.sampler as keyof typeof A1111_SAMPLER_NAMES],
    clip_skip: spec.clipSkip ?? null,
    lora_model: loras.map((l) => l.name).join(',') || null,
    lora_strength: loras.map((l) => l.strength).join(',') || null,
    safety_checker: safety ? 'yes' : 'no',
    ...promptMeta(prompt, prepared),
    output_format: format,
  };
  if (spec.strength !== undefined) meta.strength = spec.strength;
  if (spec.extend) Object.assign(meta, spec.extend);
  if (spec.controlnetModel) Object.assign(meta, { controlnet_model: spec.controlnetModel, controlnet_conditioning_scale: spec.controlStrength, auto_hint: spec.preprocess ? 'yes' : 'no' });
  if (flaggedTerm !== undefined) meta.nsfw_reason = `the prompt contains '${flaggedTerm}'`;
  return { spec, meta };
}

/** What enhance_prompt and multi_lingual did, under their own names; the client's prompt when it was changed. */
function promptMeta(original: string, prepared: PromptPreparation): Record<string, unknown> {
  const meta: Record<string, unknown> = { enhance_prompt: prepared.enhance, multi_lingual: prepared.translate };
  if (prepared.language !== undefined) meta.prompt_language = prepared.language;
  if (prepared.revised) meta.original_prompt = original;
  if (prepared.errors.length) meta.prompt_model_error = prepared.errors.join('; ');
  return meta;
}

/** The video endpoints: a served video model, frames within the server's cap, mp4 unless output_type says otherwise. */
async function translateVideo(task: 'txt2video' | 'img2video', body: V6Body, context: V6Context, storeImage: typeof storeImageInput): Promise<V6Translation> {
  const model = pickModel(context.models, body.model_id, 'video', 'model_id');
  const original = String(body.prompt ?? '');
  const prepared = await preparePrompt(original, { enhance: false, translate: yes(body.multi_lingual) }, context.promptModel);
  const prompt = prepared.prompt;
  const safety = yes(body.safety_checker);
  const flaggedTerm = safety ? context.promptFilter.flagged(prompt) ?? context.promptFilter.flagged(original) : undefined;
  const scheduler = str(body.scheduler);
  const choice = samplerOrDefault('scheduler', scheduler, model);
  const { defaults } = model;
  const loras = parseLoras(body);
  const spec: JobSpec = {
    task,
    model: model.id,
    prompt,
    negativePrompt: str(body.negative_prompt) ?? '',
    width: (body.width as number | undefined) ?? defaults.width,
    height: (body.height as number | undefined) ?? defaults.height,
    frames: (body.num_frames as number | undefined) ?? defaults.frames ?? 33,
    fps: body.fps as number | undefined,
    samples: 1,
    steps: (body.num_inference_steps as number | undefined) ?? defaults.steps,
    guidanceScale: (body.guidance_scale as number | undefined) ?? defaults.guidanceScale,
    seed: (body.seed as number | null | undefined) ?? randomSeed(),
    sampler: choice.sampler,
    scheduler: choice.scheduler,
    flowShift: body.flow_shift as number | undefined,
    loras,
    outputFormat: (str(body.output_type) ?? 'mp4') as OutputFormat,
    nsfwPrompt: flaggedTerm !== undefined,
    safetyCheck: safety,
  };
  checkPixels(context.limits, spec.width!, spec.height!, 'width x height');
  if (task === 'img2video') {
    spec.initImage = (await storeImage('init_image', body.init_image, context.images)).file;
    spec.strength = body.strength as number | undefined;
  }
  const meta: Record<string, unknown> = {
    model_id: model.id, prompt, negative_prompt: spec.negativePrompt, width: spec.width, height: spec.height, num_frames: spec.frames, fps: spec.fps ?? null,
    num_inference_steps: spec.steps, guidance_scale: spec.guidanceScale, seed: spec.seed, scheduler: scheduler ?? choice.sampler, flow_shift: spec.flowShift ?? null,
    output_type: spec.outputFormat, lora_model: loras.map((l) => l.name).join(',') || null, safety_checker: safety ? 'yes' : 'no',
    ...promptMeta(original, prepared),
  };
  if (spec.strength !== undefined) meta.strength = spec.strength;
  if (flaggedTerm !== undefined) meta.nsfw_reason = `the prompt contains '${flaggedTerm}'`;
  return { spec, meta };
}
