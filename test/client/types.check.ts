// Compiled (not run) by types.test.ts: the client's request types are the server's schemas. Every
// expect-error directive below must meet an error, or tsc fails on the unused directive.
import type { CreateKeyRequest, Text2ImgRequest, V6JobResponse, V6Request } from '../../lib/client/index.js';

export const accepted: Text2ImgRequest[] = [
  { prompt: 'x' },
  { prompt: 'x', width: 64, height: 64, seed: null, output_format: 'webp', track_id: 3, safety_checker: 'no', lora_strength: '0.5,1' },
];
export const outpaint: V6Request<'outpaint'> = { prompt: 'x', init_image: 'data:...', left: 8, bottom: 16 };
export const upscale: V6Request<'super_resolution'> = { init_image: 'data:...', scale: 2 };
export const key: CreateKeyRequest = { name: 'app', rate_limit: null, max_concurrent: 2 };

// @ts-expect-error prompt is required
export const noPrompt: Text2ImgRequest = { width: 64 };
// @ts-expect-error width is an integer, not a string
export const stringWidth: Text2ImgRequest = { prompt: 'x', width: '64' };
// @ts-expect-error output_format is one of png, jpeg, jpg, webp
export const gif: Text2ImgRequest = { prompt: 'x', output_format: 'gif' };
// @ts-expect-error inpaint needs mask_image
export const noMask: V6Request<'inpaint'> = { prompt: 'x', init_image: 'a' };
// @ts-expect-error super_resolution needs init_image
export const noImage: V6Request<'super_resolution'> = { scale: 2 };
// @ts-expect-error a key's name is required
export const nameless: CreateKeyRequest = { rate_limit: 1 };

export function outputs(job: V6JobResponse): string[] {
  if (job.status === 'success') return job.output;
  if (job.status === 'processing') return job.future_links;
  // @ts-expect-error an error answer has no output URLs
  return job.output;
}
