import type { OutpaintExtend } from '../../pipeline/image-tasks.js';
import { EXIT_CODES_HELP, numberFlag, OUTPUT_HELP } from '../context.js';
import { GENERATION_HELP, runGeneration, type GenerationTask } from '../generation.js';
import { UsageError } from '../usage-error.js';

export const HELP = `diffusekit outpaint: extend an image beyond its borders

Usage:
  diffusekit outpaint "PROMPT" --init IMAGE --extend L,R,T,B [options]

Canvas:
  -i, --init IMAGE        the image to extend; it is kept exactly in the result
      --extend L,R,T,B    pixels to add left, right, top and bottom (one number: every side; two: left and
                          right, top and bottom)
      --left N, --right N, --top N, --bottom N
                          one side at a time (beat --extend)
      --fill MODE         what the new area starts from: edge (repeated border pixels; default) or noise
      --strength N        how much of the new area is painted from scratch, 0-1 (default 1)

${GENERATION_HELP.replace(/\n {2}-s, --size[^\n]*/, '')}

${OUTPUT_HELP}

${EXIT_CODES_HELP}

Examples:
  diffusekit outpaint "a wide mountain valley" --init valley.png --extend 128,128,0,0
  diffusekit outpaint "more sky" -i beach.jpg --top 256 --fill noise
`;

const SIDES = ['left', 'right', 'top', 'bottom'] as const;

/** "64" -> every side; "64,32" -> left/right 64, top/bottom 32; "L,R,T,B". */
export function parseExtend(text: string): Required<OutpaintExtend> {
  const parts = text.split(',').map((p) => p.trim());
  const numbers = parts.map(Number);
  if (parts.some((p) => p === '') || numbers.some((n) => !Number.isFinite(n)) || ![1, 2, 4].includes(numbers.length)) {
    throw new UsageError(`--extend expects L,R,T,B (or one number, or two: left/right,top/bottom), got '${text}'`);
  }
  const [l, r, t, b] = numbers.length === 1 ? [numbers[0], numbers[0], numbers[0], numbers[0]] : numbers.length === 2 ? [numbers[0], numbers[0], numbers[1], numbers[1]] : numbers;
  return { left: l, right: r, top: t, bottom: b };
}

type Extra = { initImage: string; extend: OutpaintExtend; fill?: 'edge' | 'noise'; strength?: number };

const task: GenerationTask<Extra> = {
  name: 'outpaint',
  help: HELP,
  options: {
    init: { type: 'string', short: 'i' },
    extend: { type: 'string' },
    left: { type: 'string' },
    right: { type: 'string' },
    top: { type: 'string' },
    bottom: { type: 'string' },
    fill: { type: 'string' },
    strength: { type: 'string' },
  },
  configSize: false,
  sized: false,
  prepare(values) {
    const initImage = values.init as string | undefined;
    if (initImage === undefined) throw new UsageError('outpaint needs --init IMAGE');
    const extend: OutpaintExtend = values.extend === undefined ? {} : parseExtend(values.extend as string);
    for (const side of SIDES) {
      const n = numberFlag(side, values[side] as string | undefined);
      if (n !== undefined) extend[side] = n;
    }
    if (!SIDES.some((side) => (extend[side] ?? 0) > 0)) throw new UsageError('outpaint needs --extend L,R,T,B (or --left/--right/--top/--bottom)');
    const fill = values.fill as string | undefined;
    if (fill !== undefined && fill !== 'edge' && fill !== 'noise') throw new UsageError(`--fill must be edge or noise, got '${fill}'`);
    return { inputs: [['initImage', initImage]], extra: { initImage, extend, fill, strength: numberFlag('strength', values.strength as string | undefined) } };
  },
  // width and height stay undefined: outpaint refuses them
  run: (pipe, options, extra) => pipe.outpaint({ ...options, ...extra }),
};

/** `diffusekit outpaint "PROMPT" --init IMAGE --extend L,R,T,B`. */
export function run(args: string[]): Promise<void> {
  return runGeneration(task, args);
}
