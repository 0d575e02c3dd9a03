import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { inspectModelFile } from '../../models/inspect.js';
import { resolveModel } from '../../models/library.js';
import { WEIGHT_TYPES, type WeightType } from '../../pipeline/options.js';
import { loadConfig } from '../config.js';
import { createCli, EXIT_CODES_HELP, OUTPUT_HELP, OUTPUT_OPTIONS } from '../context.js';
import { handleInterrupts } from '../interrupt.js';
import { claimFile } from '../output.js';
import { formatBytes, tensorProgress } from '../progress.js';
import { UsageError } from '../usage-error.js';

export const HELP = `diffusekit convert: quantize or re-type a model's weights

Usage:
  diffusekit convert MODEL --type TYPE [-o OUT.gguf] [options]

Options:
      --type TYPE         ${WEIGHT_TYPES.join(', ')}
                          (quantized types need a .gguf output; small and norm tensors keep a float type)
  -o, --output FILE       .gguf, or .safetensors for f32/f16/bf16 (default: MODEL's name plus -TYPE.gguf, in
                          the working directory); an existing file is never replaced: -1, -2, ... is added
  -f, --force             replace an existing output file
      --vae FILE          bake this VAE into the output
      --rules RULES       per-tensor types, the engine's syntax: "regex=type,regex=type" (e.g. "^vae\\.=f16")
  -v, --verbose           engine log lines on stderr

${OUTPUT_HELP}

${EXIT_CODES_HELP}

Examples:
  diffusekit convert v1-5-pruned-emaonly.safetensors --type q8_0          # v1-5-pruned-emaonly-q8_0.gguf
  diffusekit convert sd_xl_base_1.0.safetensors --type q4_0 -o sdxl-q4.gguf --rules "^vae\\.=f16"
`;

/** `diffusekit convert MODEL --type TYPE`. */
export async function run(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      type: { type: 'string' },
      output: { type: 'string', short: 'o' },
      force: { type: 'boolean', short: 'f' },
      vae: { type: 'string' },
      rules: { type: 'string' },
      verbose: { type: 'boolean', short: 'v' },
      ...OUTPUT_OPTIONS,
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  const cli = createCli(values);
  if (positionals.length !== 1) throw new UsageError('convert needs one MODEL: diffusekit convert model.safetensors --type q8_0');
  const input = positionals[0];
  if (values.type === undefined) throw new UsageError(`convert needs --type: one of ${WEIGHT_TYPES.join(', ')}`);
  if (!(WEIGHT_TYPES as readonly string[]).includes(values.type)) throw new UsageError(`--type must be one of ${WEIGHT_TYPES.join(', ')}, got '${values.type}'`);
  const type = values.type as WeightType;
  const output = values.output ?? `${path.basename(input, path.extname(input))}-${type}.gguf`;
  if (!/\.(gguf|safetensors)$/i.test(output)) throw new UsageError(`--output must end in .gguf or .safetensors, got '${output}'`);
  if (/\.safetensors$/i.test(output) && !['f32', 'f16', 'bf16'].includes(type)) throw new UsageError(`--type ${type} is quantized: it needs a .gguf output, not .safetensors`);

  const { progress, style } = cli;
  const source = await inspectModelFile(await resolveModel(input, { dir: loadConfig().values.modelsDir }));
  const { convertModel } = await import('../../models/convert.js');
  const interrupt = handleInterrupts(progress);
  const saved = claimFile(output, values.force ?? false);
  // Ctrl-C cannot stop the engine's conversion: it exits at once, and this removes the claimed and partial files.
  const partial = path.resolve(saved).replace(/(\.\w+)$/, `.${process.pid}.part$1`);
  let finished = false;
  const cleanup = () => {
    if (finished) return;
    if (!values.force) fs.rmSync(saved, { force: true });
    fs.rmSync(partial, { force: true });
  };
  process.on('exit', cleanup);
  try {
    const reading = `Converting ${style.bold(path.basename(input))} to ${type}`;
    progress.spinner(reading);
    const info = await interrupt.uninterruptible(
      convertModel(source.path, saved, {
        weightType: type,
        vae: values.vae,
        tensorTypeRules: values.rules,
        onProgress: tensorProgress(progress, reading, `Writing ${style.bold(path.basename(saved))}`),
        onLog: values.verbose ? (level, message) => progress.log(`[${level}] ${message.trimEnd()}`) : undefined,
      }),
    );
    finished = true;
    progress.done(`Converted to ${type}: ${formatBytes(source.size)} -> ${formatBytes(info.size)}`);
    if (cli.json) {
      cli.printJson({ path: path.resolve(saved), input: source.path, type, size: info.size, inputSize: source.size, tensors: info.tensorNames?.length ?? null });
    } else {
      cli.print(saved);
    }
  } catch (err) {
    progress.clear();
    cleanup();
    throw err;
  } finally {
    process.off('exit', cleanup);
    interrupt.dispose();
  }
}
