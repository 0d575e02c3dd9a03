import sharp from 'sharp';
import { badRequest } from '../../errors.js';
import type { JobSpec, JobTask, OutputFormat } from '../../jobs/job-spec.js';
import { preparePrompt } from '../../jobs/prompt-preparation.js';
import { storeImageBytes, storeImageInput, type StoredImage } from '../../storage/image-inputs.js';
import { checkPixels, imageTaskSize, JOB_DEFAULTS, pickModel, randomSeed, removeInputs, samplerOrDefault, type TranslationContext } from '../shared/job-params.js';
import { editsWithReferences } from '../../../models/family-defaults.js';
import { MAX_REFERENCE_IMAGES } from '../../../pipeline/image-tasks.js';
import type { ServedModel } from '../../models/model-registry.js';
import type { QUALITIES, STYLES } from './schemas.js';

/** An OpenAI images request after schema validation (JSON or multipart fields; uploads as Buffers). */
export type OpenAIBody = Record<string, unknown>;

export type OpenAIEndpoint = 'generations' | 'edits' | 'variations';
export type Quality = (typeof QUALITIES)[number];
export type Style = (typeof STYLES)[number];

/**
 * OpenAI's `quality` as sampling steps, and `style` as guidance scale: the one place these presets are
 * decided (the README's "OpenAI images API" section lists them). `steps` and `guidance_scale` override them;
 * 'auto' and 'standard' are the model's own step count (`undefined` here).
 */
export const QUALITY_STEPS: Record<Quality, number | undefined> = { low: 12, medium: 20, standard: undefined, auto: undefined, high: 40, hd: 50 };
export const STYLE_GUIDANCE: Record<Style, number> = { natural: 5, vivid: 9 };
/** Variations are img2img of the image at this strength (extension: `strength`). */
export const VARIATION_STRENGTH = 0.6;

/** Model names of OpenAI's own: clients written for OpenAI send them; they mean the server's default model. */
const OPENAI_MODEL = /^(dall-e-|gpt-image-)/i;

/** What the response needs besides the job's outputs; kept as the job's `request`. */
export interface OpenAIRequestData {
  endpoint: OpenAIEndpoint;
  response_format: 'url' | 'b64_json';
  quality: Quality;
  /** OpenAI's end-user id: recorded, otherwise ignored. */
  user: string | null;
  /** The prompt the server's prompt model wrote, when it revised the client's. */
  revised_prompt?: string;
  [key: string]: unknown;
}

export interface OpenAITranslation {
  spec: JobSpec;
  request: OpenAIRequestData;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);

/** "512x768" → { width, height }: multiples of 8, 64 to maxSide, within the pixel budget. "auto" or nothing → undefined. */
export function parseSize(value: unknown, context: TranslationContext): { width: number; height: number } | undefined {
  if (value === undefined || value === null || value === 'auto') return undefined;
  const match = /^(\d{1,5})x(\d{1,5})$/.exec(String(value));
  if (!match) throw badRequest(`size: '${String(value)}' is not a size: send WIDTHxHEIGHT such as 512x512, or auto`, 'invalid_size');
  const [width, height] = [Number(match[1]), Number(match[2])];
  const { maxSide } = context.limits;
  if (width % 8 !== 0 || height % 8 !== 0) throw badRequest(`size: ${width}x${height} is not a multiple of 8 on each side (e.g. ${Math.max(64, Math.round(width / 8) * 8)}x${Math.max(64, Math.round(height / 8) * 8)})`, 'invalid_size');
  if (Math.min(width, height) < 64 || Math.max(width, height) > maxSide) throw badRequest(`size: ${width}x${height} is outside 64 to ${maxSide} pixels on a side`, 'invalid_size');
  checkPixels(context.limits, width, height, 'size');
  return { width, height };
}

/** The model of a request: a served checkpoint by id; OpenAI's model names (or none) mean the default one. */
function model(body: OpenAIBody, context: TranslationContext): ServedModel {
  const id = str(body.model);
  const served = context.models.some((m) => m.role === 'checkpoint' && m.id === id);
  const openaiName = id !== undefined && !served && OPENAI_MODEL.test(id);
  return pickModel(context.models, openaiName ? undefined : id, 'checkpoint', 'model');
}

/**
 * OpenAI marks the area to repaint with transparency; diffusekit's masks with white. The mask of an image:
 * 255 - alpha per pixel (soft edges stay soft), as a greyscale PNG, or undefined without an alpha channel.
 */
async function repaintMask(bytes: Buffer): Promise<{ png: Buffer; width: number; height: number; repaints: boolean } | undefined> {
  if (!(await sharp(bytes).metadata()).hasAlpha) return undefined;
  const { data, info } = await sharp(bytes, { limitInputPixels: 16384 * 16384 }).rotate().ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  const mask = Buffer.alloc(info.width * info.height);
  let repaints = false;
  for (let p = 0, a = info.channels - 1; p < mask.length; p++, a += info.channels) {
    mask[p] = 255 - data[a];
    if (mask[p] !== 0) repaints = true;
  }
  const png = await sharp(mask, { raw: { width: info.width, height: info.height, channels: 1 } }).png().toBuffer();
  return { png, width: info.width, height: info.height, repaints };
}

/**
 * Translates a validated OpenAI images request into the canonical JobSpec, storing its images. Checks what
 * a schema cannot: the model, the size, the images and the mask.
 */
export async function openaiToJob(endpoint: OpenAIEndpoint, body: OpenAIBody, context: TranslationContext): Promise<OpenAITranslation> {
  // Images are stored as they are read; a request refused after that has no job to remove them, so they go now.
  const stored: string[] = [];
  try {
    return await translate(endpoint, body, context, stored);
  } catch (err) {
    removeInputs(context.images.storage, stored);
    throw err;
  }
}

async function translate(endpoint: OpenAIEndpoint, body: OpenAIBody, context: TranslationContext, stored: string[]): Promise<OpenAITranslation> {
  if (body.stream === true) throw badRequest('stream: streaming is not supported; leave stream out or false', 'unsupported');
  if (body.background === 'transparent') throw badRequest('background: transparent backgrounds are not supported (auto or opaque)', 'unsupported');
  const { limits } = context;
  const quality = (str(body.quality) ?? 'auto') as Quality;
  const style = str(body.style) as Style | undefined;
  const size = parseSize(body.size, context);
  const checkpoint = model(body, context);
  const { defaults } = checkpoint;
  const sampler = samplerOrDefault('sampler', undefined, checkpoint);
  const spec: JobSpec = {
    task: 'txt2img',
    model: checkpoint.id,
    prompt: str(body.prompt) ?? '',
    negativePrompt: str(body.negative_prompt) ?? '',
    samples: num(body.n) ?? 1,
    steps: num(body.steps) ?? Math.min(QUALITY_STEPS[quality] ?? defaults.steps, limits.maxSteps),
    guidanceScale: num(body.guidance_scale) ?? (style ? STYLE_GUIDANCE[style] : defaults.guidanceScale),
    seed: num(body.seed) ?? randomSeed(),
    sampler: sampler.sampler,
    scheduler: sampler.scheduler,
    loras: [],
    outputFormat: (str(body.output_format) ?? 'png') as OutputFormat,
    nsfwPrompt: false,
  };
  const request: OpenAIRequestData = { endpoint, response_format: body.response_format === 'b64_json' ? 'b64_json' : 'url', quality, user: str(body.user) ?? null };
  if (style) request.style = style;

  if (endpoint === 'generations') {
    // As DALL·E 3 does, generations are revised when the server has a prompt model; revised_prompt tells.
    if (context.promptModel.model) {
      const prepared = await preparePrompt(spec.prompt, { enhance: true, translate: false }, context.promptModel);
      if (prepared.revised) spec.prompt = request.revised_prompt = prepared.prompt;
    }
    spec.width = size?.width ?? defaults.width;
    spec.height = size?.height ?? defaults.height;
    return { spec, request };
  }

  const storeImage = async (parameter: string, value: unknown): Promise<StoredImage> => {
    const image = Buffer.isBuffer(value) ? await storeImageBytes(parameter, value, context.images) : await storeImageInput(parameter, value, context.images);
    stored.push(image.file);
    return image;
  };
  const readStored = async (image: StoredImage) => (await context.images.storage.read('inputs', image.file))!;
  const first = (v: unknown) => (Array.isArray(v) ? v[0] : v);
  const imageValue = first(body.image ?? body['image[]']);
  if (imageValue === undefined || imageValue === null || imageValue === '') throw badRequest('image is required: send the image as a file', 'missing_image');
  const init = await storeImage('image', imageValue);
  spec.initImage = init.file;
  Object.assign(spec, imageTaskSize(size ?? {}, init, limits, { input: 'image', size: 'size', hint: 'a size' }));

  let task: JobTask = 'img2img';
  const maskValue = first(body.mask);
  const hasMask = maskValue !== undefined && maskValue !== null && maskValue !== '';
  if (endpoint === 'edits' && !hasMask && editsWithReferences(checkpoint.family, checkpoint.variant)) {
    // An instruction-editing model edits by the prompt, with every uploaded image as a reference (gpt-image-1's way).
    const values = [body.image ?? body['image[]']].flat();
    if (values.length > MAX_REFERENCE_IMAGES) throw badRequest(`image: at most ${MAX_REFERENCE_IMAGES} images per edit, got ${values.length}`, 'too_many_images');
    spec.refImages = [init.file];
    for (const [i, value] of values.slice(1).entries()) spec.refImages.push((await storeImage(`image[${i + 1}]`, value)).file);
    delete spec.initImage;
    spec.task = request.task = 'edit';
    return { spec, request };
  }
  if (endpoint === 'edits') {
    let mask;
    if (hasMask) {
      const upload = await storeImage('mask', maskValue);
      if (upload.width !== init.width || upload.height !== init.height) {
        throw badRequest(`mask is ${upload.width}x${upload.height} but image is ${init.width}x${init.height}: they must be the same size`, 'invalid_mask');
      }
      mask = await repaintMask(await readStored(upload));
      removeInputs(context.images.storage, [upload.file]);
      if (!mask) throw badRequest('mask has no alpha channel: its transparent pixels (alpha 0) mark the area to repaint', 'invalid_mask');
      if (!mask.repaints) throw badRequest('mask has no transparent pixels: its transparent pixels (alpha 0) mark the area to repaint', 'invalid_mask');
    } else {
      // OpenAI's convention: without a mask, the image's own transparent pixels are the area to repaint.
      // An opaque image is edited as a whole (img2img), as gpt-image-1 does.
      mask = await repaintMask(await readStored(init));
      if (mask && !mask.repaints) mask = undefined;
    }
    if (mask) {
      task = 'inpaint';
      spec.maskImage = (await storeImage('mask', mask.png)).file;
    }
    spec.strength = num(body.strength) ?? (task === 'inpaint' ? JOB_DEFAULTS.inpaintStrength : JOB_DEFAULTS.img2imgStrength);
  } else {
    spec.strength = num(body.strength) ?? VARIATION_STRENGTH;
  }
  spec.task = task;
  request.task = task;
  return { spec, request };
}
