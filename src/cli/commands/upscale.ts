import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { InvalidArgumentError } from '../../errors.js';
import type { Upscaler } from '../../pipeline/upscaler.js';
import { loadConfig } from '../config.js';
import { createCli, EXIT_CODES_HELP, numberFlag, OUTPUT_HELP, OUTPUT_OPTIONS } from '../context.js';
import { handleInterrupts } from '../interrupt.js';
import { checkTemplate, dateStamp, expandTemplate, hasPlaceholder, withIndex, writeClaimed } from '../output.js';
import { UsageError } from '../usage-error.js';

export const DEFAULT_UPSCALE_TEMPLATE = '{name}-x{scale}.png';

export const HELP = `diffusekit upscale: super resolution with an ESRGAN model

Usage:
  diffusekit upscale IMAGE... [-m ESRGAN] [options]

Options:
  -m, --model MODEL       an ESRGAN-family model: RealESRGAN x4plus, x4plus anime 6B, x2plus, ... (.pth,
                          .safetensors, .gguf) (default: config 'upscaler', $DIFFUSEKIT_UPSCALER)
      --scale N           output size as a multiple of the input's, 1-16 (default: the model's own factor)
      --tile-size N       tile edge in input pixels (default 128); larger images go tile by tile
  -t, --threads N         CPU threads (default: physical cores)
  -o, --output TEMPLATE   placeholders {name} (the input's file name without extension) {scale} {date}
                          {index} {model} (default ${DEFAULT_UPSCALE_TEMPLATE}); existing files are never
                          replaced: -1, -2, ... is added
  -f, --force             replace existing files
  -v, --verbose           engine log lines on stderr

${OUTPUT_HELP}

${EXIT_CODES_HELP}

Examples:
  diffusekit upscale photo.png -m ~/models/RealESRGAN_x4plus.pth
  diffusekit upscale *.png --scale 2 -o "big/{name}.png"
  diffusekit config set upscaler ~/models/RealESRGAN_x4plus.pth && diffusekit upscale cabin.png
`;

/** `diffusekit upscale IMAGE...`. */
export async function run(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      model: { type: 'string', short: 'm' },
      scale: { type: 'string' },
      'tile-size': { type: 'string' },
      threads: { type: 'string', short: 't' },
      output: { type: 'string', short: 'o' },
      force: { type: 'boolean', short: 'f' },
      verbose: { type: 'boolean', short: 'v' },
      ...OUTPUT_OPTIONS,
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  const cli = createCli(values);
  const config = loadConfig().values;
  if (positionals.length === 0) throw new UsageError('upscale needs an IMAGE: diffusekit upscale photo.png');
  const model = values.model ?? config.upscaler;
  if (!model) throw new UsageError("upscale needs --model ESRGAN_MODEL (or a default: 'diffusekit config set upscaler FILE', or DIFFUSEKIT_UPSCALER)");
  const scale = numberFlag('scale', values.scale);
  const tileSize = numberFlag('tile-size', values['tile-size']);
  const threads = numberFlag('threads', values.threads) ?? config.threads;
  let template = values.output ?? DEFAULT_UPSCALE_TEMPLATE;
  checkTemplate(template, ['name', 'scale', 'date', 'index', 'model']);
  if (positionals.length > 1 && !hasPlaceholder(template, 'name', 'index')) template = withIndex(template);
  for (const image of positionals) {
    if (!fs.existsSync(image) || !fs.statSync(image).isFile()) throw new InvalidArgumentError('image', `image not found: ${image}`);
  }
  const date = dateStamp();
  const { progress, style } = cli;
  const interrupt = handleInterrupts(progress);
  let upscaler: Upscaler | undefined;
  try {
    const { Upscaler } = await import('../../pipeline/upscaler.js');
    progress.spinner(`Loading ${style.bold(path.basename(model))}`);
    upscaler = await interrupt.uninterruptible(
      Upscaler.load({
        model,
        modelsDir: config.modelsDir,
        threads,
        tileSize,
        onLog: values.verbose ? (level, message) => (progress.live ? progress.log(`[${level}] ${message.trimEnd()}`) : process.stderr.write(`[${level}] ${message.trimEnd()}\n`)) : undefined,
      }),
    );
    progress.done(`Loaded ${style.bold(upscaler.model)} ${style.dim(`(x${upscaler.modelScale})`)}`);
    const results = [];
    for (const [i, input] of positionals.entries()) {
      const name = path.basename(input, path.extname(input));
      const label = `Upscaling ${name}`;
      progress.spinner(label);
      let tiled = false;
      const image = await upscaler.upscale(input, {
        scale,
        signal: interrupt.signal,
        onProgress: ({ tile, tiles }) => {
          if (!tiled) progress.bar(label, tiles, { unit: 'tiles' });
          tiled = true;
          progress.update(tile);
        },
      });
      const factor = scale ?? upscaler.modelScale;
      const file = expandTemplate(template, { name, scale: factor, date, index: i + 1, model: upscaler.model });
      const saved = await writeClaimed(file, values.force ?? false, (f) => image.save(f));
      progress.done(`${name} ${style.dim(`-> ${saved} (${image.width}x${image.height})`)}`);
      results.push({ path: saved, input, width: image.width, height: image.height, scale: factor });
    }
    if (cli.json) cli.printJson({ images: results.map((r) => ({ ...r, path: path.resolve(r.path), input: path.resolve(r.input) })), model: upscaler.model });
    else for (const r of results) cli.print(r.path);
  } catch (err) {
    progress.clear();
    throw err;
  } finally {
    await upscaler?.dispose();
    interrupt.dispose();
  }
}
