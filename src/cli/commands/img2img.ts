import type { FitMode } from '../../pipeline/image-input.js';
import { EXIT_CODES_HELP, numberFlag, OUTPUT_HELP } from '../context.js';
import { GENERATION_HELP, runGeneration, type GenerationTask } from '../generation.js';
import { UsageError } from '../usage-error.js';

export const HELP = `diffusekit img2img: redraw an image towards a prompt

Usage:
  diffusekit img2img "PROMPT" --init IMAGE [--strength 0.75] [options]

Image:
  -i, --init IMAGE        the image to start from (png, jpg, webp, ...); its size is the default size
      --strength N        how much to repaint: 0 keeps the image, 1 ignores it (default 0.75)
      --fit MODE          how the image meets --size: cover (crop; default), contain (pad), fill (stretch)

${GENERATION_HELP}

${OUTPUT_HELP}

${EXIT_CODES_HELP}

Examples:
  diffusekit img2img "a watercolor painting" --init photo.jpg --strength 0.6
  diffusekit img2img "winter, snow" -i summer.png --size 512x512 --fit contain -o "winter-{seed}.png"
`;

export const FIT_VALUES = ['cover', 'contain', 'fill'];

/** --strength and --fit, shared with inpaint. */
export function imageOptions(values: Record<string, unknown>, name: string): { initImage: string; strength?: number; fit?: FitMode } {
  const initImage = values.init as string | undefined;
  if (initImage === undefined) throw new UsageError(`${name} needs --init IMAGE`);
  const fit = values.fit as string | undefined;
  if (fit !== undefined && !FIT_VALUES.includes(fit)) throw new UsageError(`--fit must be one of ${FIT_VALUES.join(', ')}, got '${fit}'`);
  return { initImage, strength: numberFlag('strength', values.strength as string | undefined), fit: fit as FitMode | undefined };
}

export const IMAGE_OPTIONS = {
  init: { type: 'string', short: 'i' },
  strength: { type: 'string' },
  fit: { type: 'string' },
} as const;

const task: GenerationTask<ReturnType<typeof imageOptions>> = {
  name: 'img2img',
  help: HELP,
  options: IMAGE_OPTIONS,
  configSize: false,
  sized: true,
  prepare(values) {
    const extra = imageOptions(values, 'img2img');
    return { inputs: [['initImage', extra.initImage]], extra };
  },
  run: (pipe, options, extra) => pipe.img2img({ ...options, ...extra }),
};

/** `diffusekit img2img "PROMPT" --init IMAGE`. */
export function run(args: string[]): Promise<void> {
  return runGeneration(task, args);
}
