import type { ServerLimits } from '../../config.js';

// JSON schemas of the v6 request bodies. Fastify's validator coerces types, so numbers sent as strings
// ("512"), as in the hosted API's own examples, pass as numbers; flags take "yes"/"no" or booleans.
// Unknown fields are ignored, as the hosted API does.

const flag = { type: 'string', enum: ['yes', 'no', 'true', 'false'], description: '"yes" or "no" (booleans accepted)' } as const;
const text = (maxLength: number, description: string) => ({ type: 'string', maxLength, description }) as const;
const nullableText = (maxLength: number, description: string) => ({ type: ['string', 'null'], maxLength, description }) as const;
const image = (description: string) => ({ type: 'string', minLength: 1, description: `${description}: an http(s) URL, a data URL or base64` }) as const;

export function v6Schemas(limits: ServerLimits) {
  const side = (description: string) => ({ type: 'integer', minimum: 64, maximum: limits.maxSide, multipleOf: 8, description }) as const;
  const common = {
    key: text(200, 'API key (or send Authorization: Bearer)'),
    model_id: text(200, 'a served model id; default: the first model'),
    webhook: nullableText(2048, 'URL that receives the final response (POST, signed)'),
    track_id: { type: ['string', 'integer', 'null'], maxLength: 200, description: 'echoed in responses and webhooks' },
    output_format: { type: 'string', enum: ['png', 'jpeg', 'jpg', 'webp'], description: 'default png' },
  } as const;
  const generation = {
    ...common,
    prompt: text(10_000, 'what to draw'),
    negative_prompt: nullableText(10_000, 'what to avoid'),
    width: side('multiple of 8; default the model\'s (512 for SD 1.x, 1024 for SDXL, 512 for turbo ...; image tasks: the input size)'),
    height: side('multiple of 8; default the model\'s (image tasks: the input size)'),
    samples: { type: 'integer', minimum: 1, maximum: limits.maxSamples, description: 'images per request' },
    num_inference_steps: { type: 'integer', minimum: 1, maximum: limits.maxSteps, description: 'default the model\'s (20 for SD 1.x, 30 for SDXL, 1 for turbo models, 4 for FLUX.1 schnell ...)' },
    guidance_scale: { type: 'number', minimum: 0, maximum: 30, description: 'default the model\'s (7 for SD 1.x/SDXL, 1 for distilled models)' },
    seed: { type: ['integer', 'null'], minimum: 0, maximum: 2 ** 53 - 1, description: 'null = random' },
    scheduler: text(100, 'diffusers scheduler, A1111 or engine sampler name; default the model\'s (euler_a for SD 1.x/SDXL, euler for flow models)'),
    safety_checker: flag,
    enhance_prompt: { ...flag, description: '"yes": the server\'s prompt language model rewrites the prompt in detail (meta.enhance_prompt says what happened)' },
    multi_lingual: { ...flag, description: '"yes": a prompt not in English is translated to English first (meta.multi_lingual says what happened)' },
    lora_model: nullableText(1000, 'LoRA ids, comma-separated'),
    lora_strength: { type: ['string', 'number', 'null'], description: 'strengths, comma-separated, one per LoRA (default 1)' },
    clip_skip: { type: 'integer', minimum: 1, maximum: 12 },
  } as const;
  const video = {
    ...common,
    prompt: text(10_000, 'what the clip shows'),
    negative_prompt: nullableText(10_000, 'what to avoid'),
    width: { type: 'integer', minimum: 64, maximum: limits.maxSide, multipleOf: 16, description: 'multiple of 16 (32 for Wan2.2 TI2V 5B); default the model\'s (832)' },
    height: { type: 'integer', minimum: 64, maximum: limits.maxSide, multipleOf: 16, description: 'multiple of 16 (32 for Wan2.2 TI2V 5B); default the model\'s (480; 704 for TI2V 5B)' },
    num_frames: { type: 'integer', minimum: 1, maximum: limits.maxFrames, description: 'default 33' },
    fps: { type: 'number', minimum: 1, maximum: 120, description: "default: the model's (16 for Wan 2.1, 24 for Wan2.2 TI2V 5B)" },
    num_inference_steps: generation.num_inference_steps,
    guidance_scale: { type: 'number', minimum: 0, maximum: 30, description: 'default the model\'s (6)' },
    seed: generation.seed,
    scheduler: text(100, 'sampler name; default euler (flow matching)'),
    flow_shift: { type: 'number', minimum: 0.01, maximum: 100, description: "noise schedule shift; default the model's" },
    output_type: { type: 'string', enum: ['mp4', 'webm', 'gif', 'webp'], description: 'default mp4 (H.264)' },
    safety_checker: flag,
    multi_lingual: generation.multi_lingual,
    lora_model: generation.lora_model,
    lora_strength: generation.lora_strength,
  } as const;
  // Generic, so that the exact property types survive: the TypeScript client derives its request types from these.
  const body = <const P extends Record<string, unknown>, const R extends readonly (keyof P & string)[]>(properties: P, required: R) => ({ type: 'object', properties, required, additionalProperties: true }) as const;
  const added = (side: string) => ({ type: 'integer', minimum: 0, maximum: limits.maxSide, description: `pixels added ${side === 'left' || side === 'right' ? 'on the' : 'at the'} ${side}` }) as const;
  return {
    text2img: body(generation, ['prompt']),
    img2img: body({ ...generation, init_image: image('the starting image'), strength: { type: 'number', minimum: 0, maximum: 1, description: 'default 0.7' } }, ['prompt', 'init_image']),
    inpaint: body(
      { ...generation, init_image: image('the image'), mask_image: image('white = repaint, black = keep'), strength: { type: 'number', minimum: 0, maximum: 1, description: 'default 1' } },
      ['prompt', 'init_image', 'mask_image'],
    ),
    outpaint: body(
      {
        ...generation,
        init_image: image('the image to extend'),
        left: added('left'),
        right: added('right'),
        top: added('top'),
        bottom: added('bottom'),
      },
      ['prompt', 'init_image'],
    ),
    controlnet: body(
      {
        ...generation,
        controlnet_model: text(200, 'a served ControlNet id'),
        control_image: image('the guidance image (edges, pose, depth ...); default init_image'),
        init_image: image('the guidance image, or with control_image the img2img start'),
        controlnet_conditioning_scale: { type: 'number', minimum: 0, maximum: 2, description: 'default 1' },
        auto_hint: { ...flag, description: '"yes": turn the guidance image into an edge map first (canny)' },
        strength: { type: 'number', minimum: 0, maximum: 1, description: 'img2img strength when both images are given; default 0.7' },
      },
      ['prompt'],
    ),
    super_resolution: body(
      {
        ...common,
        init_image: image('the image to enlarge'),
        scale: { type: 'number', minimum: 1, maximum: 8, description: "default: the model's factor" },
        face_enhance: flag,
      },
      ['init_image'],
    ),
    text2video: body(video, ['prompt']),
    img2video: body({ ...video, init_image: image('the first frame (or, on text-to-video models, the still the clip starts from)'), strength: { type: 'number', minimum: 0, maximum: 1, description: 'text-to-video models: how much of the still to replace; default 0.75' } }, ['init_image']),
    fetch: body({ key: common.key }, []),
  };
}

export const idParams = {
  type: 'object',
  properties: { id: { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER } },
  required: ['id'],
} as const;

// JSON schemas of the v6 responses. Fastify serializes each answer through its schema, which drops any field not
// declared here: every field render.ts (and system-load.ts) sends is declared, and `meta`, whose keys are the
// request's own, keeps all of them.

const urls = (description: string) => ({ type: 'array', items: { type: 'string' }, description }) as const;

/** The v6 error body (a refused request, a failure of the server): `{ status: 'error', message, code }`. */
export const errorResponse = {
  type: 'object',
  description: 'An error: { status: "error", message, code }',
  properties: {
    status: { type: 'string', enum: ['error'] },
    message: { type: 'string' },
    code: { type: 'string', description: 'a stable machine-readable code (invalid_request, job_not_found, rate_limited ...)' },
  },
  required: ['status', 'message'],
} as const;

/** What every job answer carries. */
const jobProperties = {
  id: { type: 'integer', description: 'the job id' },
  track_id: { type: ['string', 'null'], description: "the request's track_id" },
  webhook_status: { type: 'string', enum: ['pending', 'delivered', 'failed'], description: 'only for jobs with a webhook' },
  webhook_error: { type: 'string', description: 'why the last delivery try failed, while it is retried or once it has failed' },
} as const;

/** What a job answer of status error adds. */
const failureProperties = {
  message: { type: 'string', description: 'status error: why the job failed, was cancelled or expired' },
  code: { type: 'string', description: "status error: the job's error code (cancelled, ERR_INVALID_ARG ...)" },
  cancelled: { type: 'boolean', enum: [true], description: 'status error: the job was cancelled' },
  expired: { type: 'boolean', enum: [true], description: 'status error: its outputs have expired' },
} as const;

const meta = {
  type: 'object',
  additionalProperties: true,
  description: "the request's parameters as the job runs them; when done also width, height and seeds (videos: num_frames, fps)",
} as const;

/**
 * A job in its current state, as fetch, the job routes, webhooks and the event stream's `state` events send it:
 * success (output URLs), processing (eta, fetch_result and future links) or error (message).
 */
export const jobResponse = {
  type: 'object',
  description: 'A job: status success (output), processing (eta, fetch_result, future_links) or error (message)',
  properties: {
    status: { type: 'string', enum: ['success', 'processing', 'error'] },
    ...jobProperties,
    generationTime: { type: 'number', description: 'status success: seconds the job ran' },
    output: urls('the output URLs (empty while processing)'),
    proxy_links: urls('status success: the same URLs'),
    nsfw_content_detected: { type: 'array', items: { type: 'boolean' }, description: 'status success: one per output' },
    tip: { type: 'string', description: 'status processing' },
    eta: { type: 'number', description: 'status processing: seconds until it is expected to be done' },
    fetch_result: { type: 'string', description: 'status processing: where to fetch the job' },
    future_links: urls('status processing: where the outputs will be'),
    progress: {
      type: 'object',
      description: 'status processing, once running',
      properties: { phase: { type: 'string' }, step: { type: 'integer' }, steps: { type: 'integer' }, image: { type: 'integer' }, images: { type: 'integer' } },
      required: ['phase', 'step', 'steps', 'image', 'images'],
    },
    ...failureProperties,
    meta,
  },
  required: ['status', 'id', 'track_id', 'meta'],
} as const;

/** The 4xx/5xx answer of a job route: a refused request, or (with its id and meta) a job that failed or expired. */
export const jobErrorResponse = {
  type: 'object',
  description: 'A refused request (status, message, code), or a job that failed or whose outputs expired (also id, track_id, meta ...)',
  properties: {
    status: errorResponse.properties.status,
    ...jobProperties,
    ...failureProperties,
    message: { type: 'string', description: 'why the request was refused, or why the job failed or expired' },
    meta,
  },
  required: ['status', 'message'],
} as const;

/** The answer of /api/v6/images/jobs. */
export const jobListResponse = {
  type: 'object',
  properties: { status: { type: 'string', enum: ['success'] }, jobs: { type: 'array', items: jobResponse, description: 'newest first' } },
  required: ['status', 'jobs'],
} as const;

/** The answer of /api/v6/system_load (system-load.ts). */
export const systemLoadResponse = {
  type: 'object',
  properties: {
    status: { type: 'string', enum: ['success'] },
    queue_num: { type: 'integer', description: 'jobs queued' },
    queue_time: { type: 'number', description: 'expected seconds of wait for a new job' },
    running: { type: 'integer', description: 'jobs running' },
    average_seconds_last_hour: {
      type: 'object',
      description: 'per task (txt2img, img2img ...): mean seconds and jobs of the last hour',
      additionalProperties: { type: 'object', properties: { seconds: { type: 'number' }, jobs: { type: 'integer' } } },
    },
    workers: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          id: { type: 'integer' },
          pid: { type: 'integer' },
          state: { type: 'string', enum: ['starting', 'idle', 'busy', 'stopped'] },
          job: { type: ['integer', 'null'], description: 'the running job (admin and --no-auth callers only)' },
          models: { type: 'array', items: { type: 'string' }, description: 'models loaded' },
          restarts: { type: 'integer' },
          node: { type: 'string', description: 'the worker node (shared Redis queue)' },
        },
      },
    },
    models: {
      type: 'array',
      items: {
        type: 'object',
        properties: { id: { type: 'string' }, role: { type: 'string' }, family: { type: 'string' }, size: { type: 'number', description: 'bytes' }, synthetic: { type: 'boolean' } },
      },
    },
    memory: {
      type: 'object',
      properties: { total_mib: { type: 'integer' }, free_mib: { type: 'integer' }, server_rss_mib: { type: 'integer' } },
    },
    load_average: { type: 'array', items: { type: 'number' } },
  },
  required: ['status', 'queue_num', 'queue_time', 'running'],
} as const;

/** A job's life as server-sent events (events.ts): not JSON, so nothing is serialized through it. */
export const eventStreamResponse = {
  description: 'Server-sent events: `state` (the fetch answer) first and last, `progress` ({ phase, step, steps, image, images }), `preview` ({ width, height, image: a PNG data URL })',
  content: { 'text/event-stream': { schema: { type: 'string' } } },
} as const;

/** The response schemas of a v6 route answering `ok` (errors: `error`, the v6 error body unless said). */
export const v6Responses = <const T, const E extends object = typeof errorResponse>(ok: T, error: E = errorResponse as E) => ({ 200: ok, '4xx': error, '5xx': error }) as const;
