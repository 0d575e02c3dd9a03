import { EXIT_CODES_HELP, OUTPUT_HELP } from '../context.js';
import { GENERATION_HELP, runGeneration, type GenerationTask } from '../generation.js';

export const HELP = `diffusekit generate: text to image

Usage:
  diffusekit generate "PROMPT" [options]

${GENERATION_HELP}

${OUTPUT_HELP}

${EXIT_CODES_HELP}

Examples:
  diffusekit generate "a cabin in misty mountains" -m ~/models/v1-5-pruned-emaonly.safetensors
  diffusekit generate "a lighthouse at dusk" --size 768x512 --steps 30 --seed 42 -o "out/{date}-{seed}.png"
  diffusekit generate "portrait, oil painting" --lora style:0.8 --lora-dir ~/loras -b 4 -o "portrait-{index}.png"
  diffusekit generate "a fox in the snow" --preview preview.png     # open preview.png to watch it form
  diffusekit generate "a red fox" --json | jq -r '.images[].path'
`;

const task: GenerationTask<undefined> = {
  name: 'generate',
  help: HELP,
  options: {},
  configSize: true,
  sized: true,
  prepare: () => ({ inputs: [], extra: undefined }),
  run: (pipe, options) => pipe.generate(options),
};

/** `diffusekit generate "PROMPT"`: text to image. */
export function run(args: string[]): Promise<void> {
  return runGeneration(task, args);
}
