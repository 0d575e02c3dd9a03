import sharp from 'sharp';
import { A1111_SAMPLER_NAMES, type Sampler } from '../../../pipeline/samplers.js';
import { readPngText } from '../../../util/png-text.js';
import { VERSION } from '../../../version.js';
import type { JobProgress, JobRecord } from '../../jobs/job-spec.js';
import type { ServedModel } from '../../models/model-registry.js';
import type { JobPreview } from '../../workers/protocol.js';
import { readOutput } from '../shared/job-results.js';
import type { ObjectStorage } from '../../storage/object-storage.js';

// Responses in A1111's shapes, from a JobRecord and its output files.

export interface A1111RenderContext {
  storage: ObjectStorage;
  models: ServedModel[];
  sha256: (model: ServedModel) => string | undefined;
}

/** A1111's job_timestamp: local time as YYYYMMDDhhmmss. */
function timestamp(ms: number): string {
  const d = new Date(ms);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${two(d.getMonth() + 1)}${two(d.getDate())}${two(d.getHours())}${two(d.getMinutes())}${two(d.getSeconds())}`;
}

/**
 * The txt2img / img2img answer: base64 PNGs (which carry their infotext, as A1111's do), the request echo
 * as `parameters`, and `info`, a JSON *string* as A1111 sends it, whose infotexts are read from the PNGs.
 */
export async function renderImages(job: JobRecord, parameters: Record<string, unknown>, context: A1111RenderContext): Promise<Record<string, unknown>> {
  const { spec } = job;
  const pngs = await Promise.all(job.outputs.map((o) => readOutput(context.storage, o.file)));
  const infotexts = pngs.map((png) => readPngText(png).parameters ?? '');
  const seeds = job.outputs.length ? job.outputs.map((o, i) => o.seed ?? spec.seed + i) : [spec.seed];
  const model = context.models.find((m) => m.id === spec.model);
  const hash = model && context.sha256(model)?.slice(0, 10);
  const subseed = typeof parameters.subseed === 'number' ? parameters.subseed : -1;
  const info = {
    prompt: spec.prompt,
    all_prompts: seeds.map(() => spec.prompt),
    negative_prompt: spec.negativePrompt,
    all_negative_prompts: seeds.map(() => spec.negativePrompt),
    seed: spec.seed,
    all_seeds: seeds,
    subseed,
    all_subseeds: seeds.map(() => subseed),
    subseed_strength: 0,
    width: spec.width ?? null,
    height: spec.height ?? null,
    sampler_name: spec.sampler ? A1111_SAMPLER_NAMES[spec.sampler as Sampler] : null,
    cfg_scale: spec.guidanceScale,
    steps: spec.steps,
    batch_size: typeof parameters.batch_size === 'number' ? parameters.batch_size : spec.samples,
    restore_faces: false,
    face_restoration_model: null,
    sd_model_name: spec.model,
    sd_model_hash: hash ?? null,
    sd_vae_name: null,
    sd_vae_hash: null,
    seed_resize_from_w: -1,
    seed_resize_from_h: -1,
    denoising_strength: spec.hiresFix?.denoisingStrength ?? spec.strength ?? null,
    extra_generation_params: spec.hiresFix ? { 'Hires upscale': parameters.hr_scale, 'Hires steps': spec.hiresFix.steps ?? spec.steps, 'Hires upscaler': parameters.hr_upscaler ?? 'Latent' } : {},
    index_of_first_image: 0,
    infotexts,
    styles: [],
    job_timestamp: timestamp(job.createdAt),
    clip_skip: spec.clipSkip ?? 1,
    is_using_inpainting_conditioning: false,
    version: `diffusekit ${VERSION}`,
  };
  const images = parameters.send_images === false ? [] : pngs.map((png) => png.toString('base64'));
  return { images, parameters, info: JSON.stringify(info) };
}

/** extra-single-image's answer: the upscaled PNG (resized to the exact size of resize_mode 1) and a line of HTML. */
export async function renderExtras(job: JobRecord, resizeTo: { width: number; height: number; crop: boolean } | undefined, context: A1111RenderContext): Promise<Record<string, unknown>> {
  let png = await readOutput(context.storage, job.outputs[0].file);
  if (resizeTo) png = await sharp(png).resize(resizeTo.width, resizeTo.height, { fit: resizeTo.crop ? 'cover' : 'fill' }).png().toBuffer();
  const how = resizeTo ? `upscale to: ${resizeTo.width}x${resizeTo.height}` : `upscale by: ${job.spec.scale}`;
  return { image: png.toString('base64'), html_info: `<p>Postprocess ${how}, Postprocess upscaler: ${job.spec.model}</p>` };
}

const IDLE_STATE = { skipped: false, interrupted: false, stopping_generation: false, job: '', job_count: 0, job_timestamp: '0', job_no: 0, sampling_step: 0, sampling_steps: 0 };

/** The fraction done of a running job: every image's sampling, then (hires fix) every image's second pass. */
function fractionDone(job: JobRecord, progress: JobProgress | undefined): number {
  if (!progress) return 0;
  if (progress.phase === 'decoding') return 0.99;
  const passes = job.spec.hiresFix ? 2 : 1;
  const pass = progress.phase === 'hires' ? 1 : 0;
  return Math.min(1, (pass * progress.images + progress.image + progress.step / Math.max(1, progress.steps)) / (passes * progress.images));
}

/**
 * /sdapi/v1/progress for one caller: its running job (if any) with the latest preview as a PNG, and how
 * many of its jobs are queued or running.
 */
export async function renderProgress(
  job: JobRecord | undefined,
  progress: JobProgress | undefined,
  preview: JobPreview | undefined,
  jobCount: number,
  skipCurrentImage: boolean,
): Promise<Record<string, unknown>> {
  if (!job) {
    return { progress: 0, eta_relative: 0, state: { ...IDLE_STATE, job_count: jobCount }, current_image: null, textinfo: jobCount > 0 ? 'Waiting...' : null };
  }
  const done = fractionDone(job, progress);
  const elapsed = (Date.now() - (job.startedAt ?? Date.now())) / 1000;
  // A1111's estimate: time so far over the fraction done, minus the time so far.
  const eta = done > 0.01 ? elapsed / done - elapsed : 0;
  const current_image =
    preview && !skipCurrentImage
      ? (await sharp(preview.data, { raw: { width: preview.width, height: preview.height, channels: preview.channels as 1 | 2 | 3 | 4 } }).png().toBuffer()).toString('base64')
      : null;
  return {
    progress: done,
    eta_relative: Math.max(0, eta),
    state: {
      ...IDLE_STATE,
      job: `job ${job.id}`,
      job_count: Math.max(1, jobCount),
      job_timestamp: timestamp(job.createdAt),
      job_no: progress?.image ?? 0,
      sampling_step: progress?.step ?? 0,
      sampling_steps: progress?.steps ?? job.spec.steps,
    },
    current_image,
    textinfo: progress ? `${progress.phase} step ${progress.step} of ${progress.steps}, image ${progress.image + 1} of ${progress.images}` : 'Starting...',
  };
}
