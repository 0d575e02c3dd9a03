import { EXIT_CODES_HELP, numberFlag, OUTPUT_HELP } from '../context.js';
import { GENERATION_HELP, runGeneration, type GenerationTask } from '../generation.js';
import { UsageError } from '../usage-error.js';
import { IMAGE_OPTIONS, imageOptions } from './img2img.js';

export const HELP = `diffusekit inpaint: repaint the masked part of an image

Usage:
  diffusekit inpaint "PROMPT" --init IMAGE --mask MASK [options]

Images:
  -i, --init IMAGE        the image to repaint
      --mask MASK         white = repaint, black = keep (any image; colour counts by luminance)
      --mask-blur N       softens the mask edge, in pixels (default 4)
      --strength N        how much to repaint under white, 0-1 (default 0.75)
      --fit MODE          cover (default), contain or fill, when --size differs from the image's

${GENERATION_HELP}

${OUTPUT_HELP}

${EXIT_CODES_HELP}

Examples:
  diffusekit inpaint "a red door" --init house.png --mask door-mask.png
  diffusekit inpaint "a cat on the sofa" -i room.jpg --mask sofa.png --strength 1 -b 4
`;

type Extra = ReturnType<typeof imageOptions> & { maskImage: string; maskBlur?: number };

const task: GenerationTask<Extra> = {
  name: 'inpaint',
  help: HELP,
  options: { ...IMAGE_OPTIONS, mask: { type: 'string' }, 'mask-blur': { type: 'string' } },
  configSize: false,
  sized: true,
  prepare(values) {
    const base = imageOptions(values, 'inpaint');
    const maskImage = values.mask as string | undefined;
    if (maskImage === undefined) throw new UsageError('inpaint needs --mask IMAGE (white = repaint, black = keep)');
    const extra = { ...base, maskImage, maskBlur: numberFlag('mask-blur', values['mask-blur'] as string | undefined) };
    return { inputs: [['initImage', base.initImage], ['maskImage', maskImage]], extra };
  },
  run: (pipe, options, extra) => pipe.inpaint({ ...options, ...extra }),
};

/** `diffusekit inpaint "PROMPT" --init IMAGE --mask MASK`. */
export function run(args: string[]): Promise<void> {
  return runGeneration(task, args);
}
