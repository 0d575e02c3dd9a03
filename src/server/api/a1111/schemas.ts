import type { ServerLimits } from '../../config.js';
import { JOB_DEFAULTS } from '../shared/job-params.js';

// JSON schemas of the sdapi/v1 request bodies, in A1111's field names. Defaults fill in what a request
// leaves out (the `parameters` echo shows them, as A1111's does); unknown fields pass and are ignored, as
// are the A1111 fields this server has no use for (subseed, styles, restore_faces, tiling, s_churn ...).
// Most fields also take null, which Python clients send for "not set".

const nullable = <T extends { type: string | string[] }>(schema: T) => ({ ...schema, type: [...[schema.type].flat(), 'null'] }) as const;
const text = (maxLength: number, description: string) => ({ type: 'string', maxLength, description }) as const;
const image = (description: string) => ({ type: 'string', minLength: 1, description: `${description}: base64, a data URL or an http(s) URL` }) as const;
const flag = (description: string) => ({ type: ['boolean', 'null'], description }) as const;

export function a1111Schemas(limits: ServerLimits) {
  const side = (description: string) => ({ type: 'integer', minimum: 64, maximum: limits.maxSide, description }) as const;
  const common = {
    prompt: { ...text(10_000, 'what to draw; <lora:name:weight> tags use LoRAs of the LoRA folder'), default: '' },
    negative_prompt: nullable(text(10_000, 'what to avoid')),
    seed: { type: ['integer', 'null'], minimum: -1, maximum: 2 ** 53 - 1, default: -1, description: '-1 = random' },
    subseed: { type: ['integer', 'null'], description: 'ignored (no variation seeds)' },
    sampler_name: nullable(text(100, 'A1111 sampler name ("Euler a", "DPM++ 2M", "DPM++ 2M Karras" ...)')),
    sampler_index: nullable(text(100, 'the old name of sampler_name')),
    scheduler: nullable(text(100, 'schedule ("Automatic", "Karras", "Exponential" ...)')),
    batch_size: { type: 'integer', minimum: 1, maximum: limits.maxSamples, default: 1, description: `images per batch; batch_size x n_iter at most ${limits.maxSamples}` },
    n_iter: { type: 'integer', minimum: 1, maximum: limits.maxSamples, default: 1, description: 'batches' },
    steps: { type: 'integer', minimum: 1, maximum: limits.maxSteps, description: 'default: the model\'s (20 for SD 1.x, 1 for turbo models ...)' },
    cfg_scale: { type: 'number', minimum: 0, maximum: 30, description: 'default: the model\'s (7 for SD 1.x, 1 for distilled models)' },
    width: side('rounded down to a multiple of 8; default: the model\'s (512 for SD 1.x, 1024 for SDXL ...)'),
    height: side('rounded down to a multiple of 8; default: the model\'s'),
    override_settings: { type: ['object', 'null'], description: 'sd_model_checkpoint and CLIP_stop_at_last_layers for this request; other settings are ignored' },
    alwayson_scripts: { type: ['object', 'null'], description: 'controlnet: { args: [unit] } (sd-webui-controlnet units)' },
    script_name: nullable(text(200, 'selectable scripts are not available: empty or null')),
    send_images: { type: 'boolean', default: true },
    save_images: { type: 'boolean', default: false, description: 'outputs are always kept for the output TTL' },
    restore_faces: flag('ignored (no face restoration)'),
    tiling: flag('ignored'),
  } as const;
  const body = (properties: Record<string, unknown>, required: string[] = []) => ({ type: 'object', properties, required, additionalProperties: true }) as const;
  return {
    txt2img: body({
      ...common,
      enable_hr: { type: 'boolean', default: false, description: 'hires fix' },
      hr_scale: { type: 'number', minimum: 1, maximum: 4, default: 2 },
      hr_upscaler: nullable(text(200, '"Latent", "Latent (nearest)" ..., "None" and "Lanczos" (Lanczos resize), "Nearest", a served upscaler id, or an ESRGAN name (the first served upscaler); others are a 400')),
      hr_second_pass_steps: { type: 'integer', minimum: 0, maximum: limits.maxSteps, default: 0, description: '0 = steps' },
      hr_resize_x: { type: 'integer', minimum: 0, maximum: limits.maxSide, default: 0, description: 'final width instead of hr_scale' },
      hr_resize_y: { type: 'integer', minimum: 0, maximum: limits.maxSide, default: 0, description: 'final height instead of hr_scale' },
      denoising_strength: { type: ['number', 'null'], minimum: 0, maximum: 1, description: 'hires fix: how much the second pass repaints (default 0.7)' },
    }),
    img2img: body(
      {
        ...common,
        width: side('default: the init image\'s, rounded down to a multiple of 8'),
        height: side('default: the init image\'s, rounded down to a multiple of 8'),
        init_images: { type: 'array', minItems: 1, maxItems: 1, items: image('the starting image'), description: 'one image' },
        mask: { type: ['string', 'null'], description: 'white = repaint, black = keep: base64, a data URL or an http(s) URL; empty or null = img2img' },
        denoising_strength: { type: ['number', 'null'], minimum: 0, maximum: 1, description: `default ${JOB_DEFAULTS.img2imgStrength} (with a mask ${JOB_DEFAULTS.inpaintStrength})` },
        mask_blur: { type: ['integer', 'null'], minimum: 0, maximum: 64, default: 4, description: 'mask edge blur in pixels' },
        inpainting_fill: { type: 'integer', minimum: 0, maximum: 3, default: 1, description: 'what the masked area starts from: 0 fill (surrounding colours), 1 original, 2 latent noise (seeded noise), 3 latent nothing (grey)' },
        inpaint_full_res: { type: ['boolean', 'integer', 'null'], description: 'true: inpaint only a crop around the mask, at width x height, pasted back' },
        inpaint_full_res_padding: { type: ['integer', 'null'], minimum: 0, maximum: 1024, description: 'pixels of context around the mask for inpaint_full_res (default 32)' },
        inpainting_mask_invert: { type: ['integer', 'boolean'], minimum: 0, maximum: 1, default: 0, description: '1: repaint the black part' },
        resize_mode: { type: 'integer', minimum: 0, maximum: 3, default: 0, description: '0 just resize (stretch), 1 crop and resize, 2 resize and fill (pad), 3 = 0' },
        include_init_images: { type: 'boolean', default: false },
      },
      ['init_images'],
    ),
    extraSingleImage: body(
      {
        image: image('the image to enlarge'),
        resize_mode: { type: 'integer', minimum: 0, maximum: 1, default: 0, description: '0: upscaling_resize; 1: upscaling_resize_w x upscaling_resize_h' },
        upscaling_resize: { type: 'number', minimum: 1, maximum: 8, default: 2 },
        upscaling_resize_w: { type: 'integer', minimum: 1, maximum: limits.maxSide, default: 512 },
        upscaling_resize_h: { type: 'integer', minimum: 1, maximum: limits.maxSide, default: 512 },
        upscaling_crop: { type: 'boolean', default: true },
        upscaler_1: { ...nullable(text(200, '"None", "Lanczos", "Nearest" (built in: no model needed), a served upscaler id, or an ESRGAN name ("R-ESRGAN 4x+": the first served upscaler); others are a 400')), default: 'None' },
        upscaler_2: nullable(text(200, 'ignored')),
        gfpgan_visibility: { type: 'number', minimum: 0, maximum: 1, default: 0, description: 'must be 0 (no face restoration)' },
        codeformer_visibility: { type: 'number', minimum: 0, maximum: 1, default: 0, description: 'must be 0 (no face restoration)' },
      },
      ['image'],
    ),
    options: body({
      sd_model_checkpoint: text(500, 'the default checkpoint: a title, file name or model name from sd-models'),
      CLIP_stop_at_last_layers: { type: 'integer', minimum: 1, maximum: 12 },
    }),
  };
}

export const progressQuery = {
  type: 'object',
  properties: { skip_current_image: { type: 'boolean', default: false } },
  additionalProperties: true,
} as const;

// JSON schemas of the sdapi/v1 responses, in A1111's shapes (render.ts, catalog.ts). Fastify serializes each answer
// through its schema, which drops any field not declared here: every field sent is declared, and the objects whose
// keys are open-ended (the `parameters` echo of a request, options, flags, metadata) keep all of theirs.

const str = { type: 'string' } as const;
const strOrNull = { type: ['string', 'null'] } as const;
const bool = { type: 'boolean' } as const;
const int = { type: 'integer' } as const;
const open = (description: string, properties: Record<string, unknown> = {}) => ({ type: 'object', properties, additionalProperties: true, description }) as const;
const object = <const P extends Record<string, unknown>>(properties: P) => ({ type: 'object', properties }) as const;
const list = <const I>(items: I) => ({ type: 'array', items }) as const;

/** Errors as A1111 (FastAPI) sends them: `{ error, detail, body, errors }`; a 422's detail lists what failed validation. */
export const errorResponse = {
  type: 'object',
  properties: {
    error: { type: 'string', description: 'a stable error code (validation_error for a 422)' },
    detail: {
      anyOf: [
        { type: 'string' },
        list({ type: 'object', properties: { loc: list({ type: ['string', 'integer'] }), msg: str, type: str } }),
      ],
      description: 'the message; for a 422, a list of { loc, msg, type } as FastAPI gives',
    },
    body: str,
    errors: str,
  },
  required: ['error', 'detail'],
} as const;

/** txt2img and img2img: base64 PNGs, the request echo and `info`, a JSON string. */
export const imagesResponse = object({
  images: list({ type: 'string', description: 'a base64 PNG (with its infotext)' }),
  parameters: open('the request, with the defaults filled in'),
  info: { type: 'string', description: 'a JSON object as a string: prompt, all_seeds, infotexts ...' },
});

/** extra-single-image: the upscaled base64 PNG and a line of HTML. */
export const extrasResponse = object({ image: { type: 'string', description: 'a base64 PNG' }, html_info: str });

const progressState = object({
  skipped: bool,
  interrupted: bool,
  stopping_generation: bool,
  job: str,
  job_count: int,
  job_timestamp: str,
  job_no: int,
  sampling_step: int,
  sampling_steps: int,
});

export const progressResponse = object({
  progress: { type: 'number', description: 'fraction done, 0 to 1' },
  eta_relative: { type: 'number', description: 'seconds' },
  state: progressState,
  current_image: { type: ['string', 'null'], description: 'a base64 PNG of the latent' },
  textinfo: strOrNull,
});

/** interrupt, skip, the refresh calls: `{}`. */
export const emptyResponse = { type: 'object', description: 'Nothing: {}' } as const;

export const sdModelsResponse = list(object({ title: str, model_name: str, hash: strOrNull, sha256: strOrNull, filename: str, config: strOrNull }));
export const samplersResponse = list(object({ name: str, aliases: list(str), options: open('sampler options') }));
export const schedulersResponse = list(object({ name: str, label: str, aliases: { type: ['array', 'null'], items: str }, default_rho: { type: 'number' }, need_inner_model: bool }));
export const upscalersResponse = list(object({ name: str, model_name: strOrNull, model_path: strOrNull, model_url: strOrNull, scale: { type: 'number' } }));
export const latentUpscaleModesResponse = list(object({ name: str }));
export const lorasResponse = list(object({ name: str, alias: str, path: str, metadata: open('the safetensors training metadata') }));
/** The lists this server leaves empty, in A1111's item shapes. */
export const sdVaeResponse = list(object({ model_name: str, filename: str }));
export const promptStylesResponse = list(object({ name: str, prompt: strOrNull, negative_prompt: strOrNull }));
export const faceRestorersResponse = list(object({ name: str, cmd_dir: strOrNull }));

export const cmdFlagsResponse = open('the server\'s settings in A1111 flag names', {
  api: bool,
  nowebui: bool,
  listen: bool,
  port: int,
  api_auth: strOrNull,
  lora_dir: strOrNull,
  embeddings_dir: strOrNull,
});

const bytes = { type: 'number', description: 'bytes' } as const;
export const memoryResponse = object({ ram: object({ free: bytes, used: bytes, total: bytes }), cuda: open('GPU memory (not reported)', { error: str }) });

export const controlnetVersionResponse = object({ version: int });
export const controlnetModelListResponse = object({ model_list: list(str) });
export const controlnetModuleListResponse = object({ module_list: list(str), module_detail: open('per module') });

export const optionsResponse = open('the settings', {
  sd_model_checkpoint: str,
  sd_checkpoint_hash: strOrNull,
  CLIP_stop_at_last_layers: int,
  sd_vae: str,
  sd_lora: str,
  samples_format: str,
  live_previews_enable: bool,
  show_progress_type: str,
  show_progress_every_n_steps: int,
});

/** POST options: null, as A1111 answers (`type` as a list: @fastify/swagger documents a plain 'null' as no body at all). */
export const nullResponse = { type: ['null'], description: 'null' } as const;

/** The response schemas of an A1111 route answering `ok`; errors in A1111's shape. */
export const a1111Responses = <const T>(ok: T) => ({ 200: ok, '4xx': errorResponse, '5xx': errorResponse }) as const;
