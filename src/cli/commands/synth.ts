import { parseArgs } from 'node:util';
import { SYNTHETIC_ARCHITECTURES, type SyntheticArchitecture } from '../../models/architectures/index.js';
import type { SyntheticDtype } from '../../models/synthesize.js';
import { createCli, EXIT_CODES_HELP, numberFlag, OUTPUT_HELP, OUTPUT_OPTIONS } from '../context.js';
import { UsageError } from '../usage-error.js';

export const HELP = `diffusekit synth: write a synthetic test checkpoint (random weights, real layouts)

Usage:
  diffusekit synth [--arch NAME] [--seed N] [--dtype f16|f32|q8_0|q4_0] [--out FILE] [--format single-file|diffusers]

Options:
      --arch NAME         models: sd1 (full SD 1.x layout, ~2 GiB), sd1-inpaint, sd2 (~2.6 GiB),
                          sdxl (~7 GiB), sd3 (~6 GiB), sdxs (tiny, ~0.9 GiB; the default);
                          components: taesd, sd1-lora, sd1-lora-peft, sd1-controlnet, sd1-embedding,
                          esrgan-x4plus, esrgan-x4plus-anime, esrgan-x2plus;
                          FLUX.1 and Chroma (components; the DiTs and T5 with --dtype q4_0):
                          flux-dev (~6.2 GiB in q4_0; also Kontext's layout), flux-schnell, flux-fill,
                          chroma (~4.7 GiB in q4_0), t5xxl (~2.5 GiB in q4_0), flux-vae, clip-l;
                          video (Wan; for the engine, no Pipeline API yet): wan2.1-t2v-1.3b (~2.8 GiB),
                          wan2.2-ti2v-5b (~10 GiB), wan2.1-vae, wan2.2-vae, taew2.1, taew2.2,
                          umt5-xxl (~11 GiB);
                          LLM-encoded families, as separate components (write the DiTs and LLMs with
                          --dtype q4_0): z-image-turbo (~3.5 GB in q4_0), qwen3-4b (~2.3 GB),
                          flux-vae; qwen-image (~11.5 GB), qwen2.5-vl-7b (~4.3 GB),
                          qwen2.5-vl-7b-mmproj (its vision tower), qwen-image-vae; flux2-klein-4b
                          (~2.2 GB), flux2-vae; flux2-dev (~18 GB) and mistral-small-3.2-24b (~13 GB)
      --seed N            weight seed (default 0)
      --dtype TYPE        storage type: f16 (default), f32, or q8_0 / q4_0 (a .gguf)
      --out FILE          output path (default: the cache, ~/.cache/diffusekit/models); .ckpt writes
                          PyTorch's zip format
      --format NAME       single-file (default) or diffusers (a folder; sd1, sd1-inpaint, sdxl)

The path is printed on stdout; a summary on stderr.

${OUTPUT_HELP}

${EXIT_CODES_HELP}

Examples:
  diffusekit generate "a test" -m "$(diffusekit synth)" --size 64 --steps 1
  diffusekit synth --arch esrgan-x4plus
  diffusekit synth --arch sd1 --format diffusers --out ./sd1-diffusers
  diffusekit synth --arch z-image-turbo --dtype q4_0
`;

/** `diffusekit synth`: writes (or finds cached) a synthetic model and prints its path. */
export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      arch: { type: 'string', default: 'sdxs' },
      seed: { type: 'string' },
      dtype: { type: 'string' },
      out: { type: 'string' },
      format: { type: 'string' },
      ...OUTPUT_OPTIONS,
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  const cli = createCli(values);
  if (!(values.arch in SYNTHETIC_ARCHITECTURES)) {
    throw new UsageError(`--arch must be one of ${Object.keys(SYNTHETIC_ARCHITECTURES).join(', ')}`);
  }
  if (values.dtype !== undefined && !['f16', 'f32', 'q8_0', 'q4_0'].includes(values.dtype)) throw new UsageError('--dtype must be f16, f32, q8_0 or q4_0');
  if (values.format !== undefined && values.format !== 'single-file' && values.format !== 'diffusers') {
    throw new UsageError('--format must be single-file or diffusers');
  }
  const { synthesizeModel } = await import('../../models/synthesize.js');
  cli.progress.spinner(`Writing synthetic ${values.arch}`);
  const model = synthesizeModel({
    architecture: values.arch as SyntheticArchitecture,
    seed: numberFlag('seed', values.seed),
    dtype: values.dtype as SyntheticDtype | undefined,
    output: values.out,
    format: values.format as 'single-file' | 'diffusers' | undefined,
  });
  cli.progress.clear();
  if (cli.json) {
    cli.printJson({ path: model.path, architecture: model.architecture, tensors: model.tensors, parameters: model.parameters, created: model.created });
    return;
  }
  cli.print(model.path);
  if (!cli.quiet) process.stderr.write(`${model.architecture}: ${model.tensors} tensors, ${(model.parameters / 1e6).toFixed(1)} M parameters${model.created ? '' : ' (cached)'}\n`);
}
