import { EXIT_CODES_HELP, OUTPUT_HELP } from '../context.js';
import { GENERATION_HELP, runGeneration, type GenerationTask } from '../generation.js';
import { UsageError } from '../usage-error.js';

export const HELP = `diffusekit edit: change images by instruction (FLUX.1 Kontext, Qwen-Image-Edit, FLUX.2)

Usage:
  diffusekit edit "INSTRUCTION" --image IMAGE [--image IMAGE2 ...] -m MODEL [options]

Edit:
      --image IMAGE       a reference image the instruction refers to; repeatable, 1-4. The size defaults
                          to the first image's (multiples of 8)
  The model must edit with reference images: FLUX.1 Kontext dev, Qwen-Image-Edit (told by their file names,
  which say "kontext" / "edit"), or any FLUX.2 model.

${GENERATION_HELP}

${OUTPUT_HELP}

${EXIT_CODES_HELP}

Examples:
  diffusekit edit "make it night, with a full moon" --image house.png --diffusion-model flux1-kontext-dev-Q4_K.gguf \\
    --vae ae.safetensors --clip-l clip_l.safetensors --t5xxl t5xxl_q8_0.gguf
  diffusekit edit "put the cat from the second image on the sofa" --image room.png --image cat.png \\
    --diffusion-model qwen_image_edit_2509-Q4_K.gguf --vae qwen_image_vae.safetensors --llm qwen2.5-vl-7b-Q4_K.gguf
`;

const task: GenerationTask<{ images: string[] }> = {
  name: 'edit',
  help: HELP,
  options: { image: { type: 'string', multiple: true } },
  configSize: false,
  sized: true,
  prepare(values) {
    const images = (values.image as string[] | undefined) ?? [];
    if (images.length === 0) throw new UsageError('edit needs --image IMAGE (repeatable: one per reference image)');
    if (images.length > 4) throw new UsageError(`edit takes at most 4 --image reference images, got ${images.length}`);
    return { inputs: images.map((file) => ['image', file]), extra: { images } };
  },
  run: (pipe, options, extra) => pipe.edit({ ...options, images: extra.images }),
};

/** `diffusekit edit "INSTRUCTION" --image IMAGE`. */
export function run(args: string[]): Promise<void> {
  return runGeneration(task, args);
}
