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
