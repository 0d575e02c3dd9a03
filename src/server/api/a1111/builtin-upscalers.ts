import sharp from 'sharp';
import { badRequest } from '../../errors.js';
import type { ServedModel } from '../../models/model-registry.js';
import { removeInputs } from '../shared/job-params.js';
import { storeImageInput, type ImageInputSettings } from '../../storage/image-inputs.js';
import { findModel } from './catalog.js';

// AUTOMATIC1111's upscalers that need no model: None, Lanczos and Nearest resize the pixels. They work on a
// server that serves no ESRGAN model, as in A1111; names that are neither these nor a served upscaler are a 400.

/** A1111's built-in upscalers and sharp's kernel for each ("None" resizes as A1111 then does: Lanczos). */
export const BUILTIN_UPSCALERS = { None: 'lanczos3', Lanczos: 'lanczos3', Nearest: 'nearest' } as const;
export type BuiltinUpscaler = keyof typeof BUILTIN_UPSCALERS;

/** ESRGAN names A1111 clients send ("R-ESRGAN 4x+", "ESRGAN_4x", "4x-UltraSharp", "SwinIR_4x"): the first served upscaler. */
const ESRGAN_NAME = /esrgan|^4x|swinir/i;

export type UpscalerChoice = { builtin: BuiltinUpscaler } | { model: ServedModel };

/** An upscaler by A1111 name: built in, a served one by id, an ESRGAN name as the first served one; else a 400 naming the valid ones. */
export function upscalerByName(parameter: string, name: string, models: ServedModel[]): UpscalerChoice {
  const builtin = (Object.keys(BUILTIN_UPSCALERS) as BuiltinUpscaler[]).find((b) => b.toLowerCase() === name.toLowerCase());
  if (builtin) return { builtin };
  const served = models.filter((m) => m.role === 'upscaler');
  const model = findModel(models, 'upscaler', name, () => undefined) ?? (ESRGAN_NAME.test(name) ? served[0] : undefined);
  if (model) return { model };
  const valid = [...Object.keys(BUILTIN_UPSCALERS), ...served.map((m) => m.id)];
  throw badRequest(`${parameter}: no upscaler '${name}' on this server (valid: ${valid.join(', ')})`, 'upscaler_not_found');
}

/** extra-single-image by a built-in upscaler: the image resized at once, no job (as quick as A1111's). */
export async function builtinExtras(
  body: Record<string, unknown>,
  upscaler: BuiltinUpscaler,
  images: ImageInputSettings,
  maxSide: number,
): Promise<Record<string, unknown>> {
  const input = await storeImageInput('image', body.image, images);
  try {
    const bytes = (await images.storage.read('inputs', input.file))!;
    const exact = body.resize_mode === 1;
    const scale = body.upscaling_resize as number;
    const [width, height] = exact ? [body.upscaling_resize_w as number, body.upscaling_resize_h as number] : [Math.round(input.width * scale), Math.round(input.height * scale)];
    if (width > maxSide || height > maxSide) throw badRequest(`the result (${width}x${height}) would be larger than ${maxSide} pixels on a side`, 'size_too_large');
    const fit = exact && body.upscaling_crop !== false ? 'cover' : 'fill';
    const png = await sharp(bytes).rotate().resize(width, height, { fit, kernel: BUILTIN_UPSCALERS[upscaler] }).png().toBuffer();
    const how = exact ? `upscale to: ${width}x${height}` : `upscale by: ${scale}`;
    return { image: png.toString('base64'), html_info: `<p>Postprocess ${how}, Postprocess upscaler: ${upscaler}</p>` };
  } finally {
    removeInputs(images.storage, [input.file]);
  }
}
