import { EXIT_CODES_HELP, numberFlag, OUTPUT_HELP } from '../context.js';
import { COMPONENT_HELP } from '../component-flags.js';
import { GENERATION_HELP, runGeneration, type GenerationTask } from '../generation.js';
import { UsageError } from '../usage-error.js';
import type { VideoOptions } from '../../pipeline/video.js';
import { VIDEO_FORMATS } from '../../pipeline/video-encode.js';

export const HELP = `diffusekit video: text or image to video (Wan)

Usage:
  diffusekit video "PROMPT" -m WAN_MODEL --vae VAE [--t5xxl T5] [-o clip.mp4] [options]

Video:
  -m, --model MODEL       the video diffusion model (Wan2.1 T2V 1.3B, Wan2.2 TI2V 5B, ...)
      --vae FILE          its VAE (wan_2.1_vae for Wan 2.1, wan2.2_vae for TI2V 5B), or a tiny video autoencoder
      --t5xxl FILE        the umt5-xxl text encoder (without it the prompt is ignored)
      --clip-vision FILE  the CLIP vision encoder of image-to-video models (Wan I2V, FLF2V: clip_vision_h)
      --high-noise-model FILE
                          Wan2.2 A14B: the high-noise expert (-m is then the low-noise one)
      --frames N          frames in the clip, 1-257 (default 33)
      --fps N             playback rate (default 16 for Wan 2.1, 24 for Wan2.2 TI2V 5B)
      --flow-shift N      noise schedule shift (default: the model's)
  -i, --init IMAGE        image to video: the first frame (TI2V/I2V models), or the still to start from
      --strength N        with --init on text-to-video models: 0 keeps the still, 1 ignores it (default 0.75)
  Sizes are multiples of 16 (32 for TI2V 5B); default 832x480. The output's extension picks the format:
  .mp4 (H.264), .webm (VP9), .webp or .gif (animated). Default output: {date}-{seed}.mp4.

${GENERATION_HELP.replace(/\n  -b, --batch.*\n/, '\n').replace(`\n${COMPONENT_HELP}\n`, '')}

${OUTPUT_HELP}

${EXIT_CODES_HELP}

Examples:
  diffusekit video "a fox running through snow" -m wan2.1_t2v_1.3B_fp16.safetensors \\
    --vae wan_2.1_vae.safetensors --t5xxl umt5_xxl_fp16.safetensors -o clip.mp4 --frames 16 --fps 8
  diffusekit video "the waves roll in" -m wan2.1_t2v_1.3B_fp16.safetensors --vae wan_2.1_vae.safetensors \\
    --init beach.png --strength 0.6 --size 832x480 -o "beach-{seed}.webp"
`;

type VideoExtra = Pick<VideoOptions, 'frames' | 'fps' | 'flowShift' | 'initImage' | 'strength'>;

const task: GenerationTask<VideoExtra> = {
  name: 'video',
  help: HELP,
  options: {
    frames: { type: 'string' },
    fps: { type: 'string' },
    'flow-shift': { type: 'string' },
    init: { type: 'string', short: 'i' },
    strength: { type: 'string' },
  },
  configSize: false,
  sized: true,
  defaultOutput: '{date}-{seed}.mp4',
  extensions: VIDEO_FORMATS.map((f) => `.${f}`),
  modelKey: 'diffusionModel',
  prepare(values) {
    if (values.batch !== undefined) throw new UsageError('video takes no --batch: one call makes one clip');
    if (values.preview !== undefined) throw new UsageError('video takes no --preview');
    const initImage = values.init as string | undefined;
    const extra: VideoExtra = {
      frames: numberFlag('frames', values.frames as string | undefined),
      fps: numberFlag('fps', values.fps as string | undefined),
      flowShift: numberFlag('flow-shift', values['flow-shift'] as string | undefined),
      initImage,
      strength: numberFlag('strength', values.strength as string | undefined),
    };
    return { inputs: initImage ? [['initImage', initImage]] : [], extra };
  },
  run: async (pipe, options, extra) => {
    const { batchSize: _batch, preview: _preview, ...common } = options;
    return [await pipe.generateVideo({ ...common, ...extra })];
  },
};

/** `diffusekit video "PROMPT" -m WAN --vae VAE`. */
export function run(args: string[]): Promise<void> {
  return runGeneration(task, args);
}
