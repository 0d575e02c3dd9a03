import type { ServerLimits } from '../../config.js';

// JSON schemas of the OpenAI images API requests and responses. Every optional OpenAI parameter may also be
// null (the Python SDK sends explicit nulls). Multipart fields arrive as strings and are coerced like JSON
// ones ("2" → 2); uploaded files arrive as Buffers. Unknown fields are ignored, as OpenAI's newer
// parameters may be sent by newer SDKs.

const nullable = <T extends string>(type: T) => [type, 'null'] as [T, 'null'];
const choice = (values: string[], description: string) => ({ type: nullable('string'), enum: [...values, null], description }) as const;
const text = (maxLength: number, description: string) => ({ type: nullable('string'), maxLength, description }) as const;
const file = (description: string) => ({ description: `${description} (a file; or an http(s) URL, data URL or base64 as a text field)` }) as const;

export const QUALITIES = ['auto', 'low', 'medium', 'standard', 'high', 'hd'] as const;
export const STYLES = ['vivid', 'natural'] as const;

export function openaiSchemas(limits: ServerLimits) {
  const common = {
    model: text(200, 'a served model id (GET /v1/models); OpenAI names such as dall-e-3 or gpt-image-1 mean the default model'),
    n: { type: nullable('integer'), minimum: 1, maximum: limits.maxSamples, description: `images to generate, 1-${limits.maxSamples}` },
    size: text(20, 'WIDTHxHEIGHT in multiples of 8, e.g. 512x512; "auto" (default): the model\'s own size (512x512 for SD 1.x, 1024x1024 for SDXL ...), or the input image\'s size'),
    response_format: choice(['url', 'b64_json'], 'default url'),
    output_format: choice(['png', 'jpeg', 'webp'], 'default png'),
    output_compression: { type: nullable('integer'), minimum: 0, maximum: 100, description: 'accepted and ignored (jpeg and webp are written at quality 92)' },
    quality: choice([...QUALITIES], 'sampling steps preset (README: OpenAI images API)'),
    background: choice(['auto', 'opaque', 'transparent'], 'transparent is not supported'),
    moderation: choice(['auto', 'low'], 'accepted and ignored'),
    user: text(1000, 'recorded with the job, otherwise ignored'),
    stream: { type: nullable('boolean'), description: 'streaming is not supported: false or absent' },
    partial_images: { type: nullable('integer'), minimum: 0, maximum: 3, description: 'accepted and ignored' },
    // Extensions (not in OpenAI's API): pass them as extra body fields.
    negative_prompt: text(10_000, 'extension: what to avoid'),
    seed: { type: nullable('integer'), minimum: 0, maximum: 2 ** 53 - 1, description: 'extension: seed of the first image; default random' },
    steps: { type: nullable('integer'), minimum: 1, maximum: limits.maxSteps, description: 'extension: sampling steps (overrides quality)' },
    guidance_scale: { type: nullable('number'), minimum: 0, maximum: 30, description: 'extension: guidance scale (overrides style)' },
  } as const;
  const strength = (description: string) => ({ type: nullable('number'), minimum: 0, maximum: 1, description: `extension: how much of the image to repaint; ${description}` }) as const;
  const body = (properties: Record<string, unknown>, required: string[]) => ({ type: 'object', properties, required, additionalProperties: true }) as const;
  return {
    generations: body(
      {
        ...common,
        prompt: { type: 'string', minLength: 1, maxLength: 32_000, description: 'what to draw' },
        style: choice([...STYLES], 'guidance scale preset (README: OpenAI images API)'),
      },
      ['prompt'],
    ),
    edits: body(
      {
        ...common,
        prompt: { type: 'string', minLength: 1, maxLength: 32_000, description: 'what to draw' },
        image: file('the image to edit; its transparent pixels are repainted when no mask is given'),
        'image[]': file('the image to edit (the first one)'),
        mask: file('transparent pixels (alpha 0) mark the area to repaint; same size as image'),
        input_fidelity: choice(['high', 'low'], 'accepted and ignored'),
        strength: strength('default 1 with a mask or transparency, 0.7 without'),
      },
      ['prompt'],
    ),
    variations: body(
      {
        ...common,
        image: file('the image to vary'),
        prompt: text(32_000, 'extension: a prompt for the variations; default empty'),
        strength: strength('default 0.6'),
      },
      [],
    ),
  };
}

/** The success body of every image route. */
export const imagesResponse = {
  type: 'object',
  properties: {
    created: { type: 'integer', description: 'Unix seconds' },
    data: {
      type: 'array',
      items: { type: 'object', properties: { url: { type: 'string' }, b64_json: { type: 'string' }, revised_prompt: { type: 'string' } } },
    },
    output_format: { type: 'string' },
    size: { type: 'string' },
    quality: { type: 'string' },
    background: { type: 'string' },
  },
} as const;

const modelObject = {
  type: 'object',
  properties: { id: { type: 'string' }, object: { type: 'string' }, created: { type: 'integer' }, owned_by: { type: 'string' } },
} as const;

export const modelResponse = modelObject;
export const modelListResponse = { type: 'object', properties: { object: { type: 'string' }, data: { type: 'array', items: modelObject } } } as const;

export const modelParams = { type: 'object', properties: { id: { type: 'string', minLength: 1, maxLength: 200 } }, required: ['id'] } as const;

/** OpenAI's error body: `{ error: { message, type, param, code } }`. */
export const errorResponse = {
  type: 'object',
  properties: {
    error: {
      type: 'object',
      properties: { message: { type: 'string' }, type: { type: 'string' }, param: { type: ['string', 'null'] }, code: { type: ['string', 'null'] } },
    },
  },
} as const;

/** The response schemas of an OpenAI route answering `ok`; errors in OpenAI's shape. */
export const openaiResponses = <const T>(ok: T) => ({ 200: ok, '4xx': errorResponse, '5xx': errorResponse }) as const;
