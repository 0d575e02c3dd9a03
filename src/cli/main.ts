#!/usr/bin/env node
import { DiffusekitError, InvalidArgumentError, ModelFileError } from '../errors.js';
import { COMPONENT_KEYS } from '../models/components.js';
import { importOptional, SERVER_FEATURE } from '../util/optional-dependency.js';
import { VERSION } from '../version.js';
import { loadConfig } from './config.js';
import { EXIT_CODES_HELP } from './context.js';
import { INTERRUPTED_EXIT, interruptReported } from './interrupt.js';
import { createStyle } from './style.js';
import { UsageError } from './usage-error.js';

/** A command's entry point: resolves with its exit status (undefined: 0). */
type Run = (args: string[]) => Promise<number | void>;

interface CommandEntry {
  /** Shown in `diffusekit --help`. */
  usage: string;
  summary: string;
  group: 'Images' | 'Models' | 'Server' | 'Setup';
  load: () => Promise<Run>;
}

// Modules load on demand: `diffusekit config get` never loads the engine.
const COMMANDS: Record<string, CommandEntry> = {
  generate: { group: 'Images', usage: 'generate "PROMPT" [-m MODEL] [-o FILE]', summary: 'text to image', load: async () => (await import('./commands/generate.js')).run },
  img2img: { group: 'Images', usage: 'img2img "PROMPT" --init IMAGE', summary: 'redraw an image towards a prompt', load: async () => (await import('./commands/img2img.js')).run },
  inpaint: { group: 'Images', usage: 'inpaint "PROMPT" --init IMAGE --mask MASK', summary: 'repaint the white part of a mask', load: async () => (await import('./commands/inpaint.js')).run },
  outpaint: { group: 'Images', usage: 'outpaint "PROMPT" --init IMAGE --extend L,R,T,B', summary: 'extend an image beyond its borders', load: async () => (await import('./commands/outpaint.js')).run },
  edit: { group: 'Images', usage: 'edit "INSTRUCTION" --image IMAGE -m MODEL', summary: 'change images by instruction (Kontext, Qwen-Image-Edit, FLUX.2)', load: async () => (await import('./commands/edit.js')).run },
  video: { group: 'Images', usage: 'video "PROMPT" -m WAN --vae VAE [-o clip.mp4]', summary: 'text or image to video (MP4, WebM, WebP, GIF)', load: async () => (await import('./commands/video.js')).run },
  upscale: { group: 'Images', usage: 'upscale IMAGE... [-m ESRGAN] [--scale N]', summary: 'super resolution (ESRGAN)', load: async () => (await import('./commands/upscale.js')).run },
  info: { group: 'Models', usage: 'info [MODEL] [--tensors]', summary: 'the engine, or what a model file holds', load: async () => (await import('./commands/info.js')).run },
  convert: { group: 'Models', usage: 'convert MODEL --type q8_0 [-o OUT.gguf]', summary: 'quantize or re-type weights', load: async () => (await import('./commands/convert.js')).run },
  models: { group: 'Models', usage: 'models list|pull|rm', summary: 'the model library, downloads from the Hub', load: async () => (await import('./commands/models.js')).run },
  synth: { group: 'Models', usage: 'synth [--arch NAME]', summary: 'write a synthetic test checkpoint', load: async () => (await import('./commands/synth.js')).run },
  train: { group: 'Models', usage: 'train --base MODEL --images DIR -p "PROMPT"', summary: 'train a LoRA from images', load: async () => (await import('./commands/train.js')).run },
  trainer: { group: 'Setup', usage: 'trainer setup|status', summary: "the LoRA trainer's Python environment", load: async () => (await import('./commands/trainer.js')).run },
  serve: { group: 'Server', usage: 'serve [-m MODEL]... [--port N]', summary: 'the REST API server', load: async () => (await importOptional(() => import('./serve.js'), SERVER_FEATURE('diffusekit serve'))).serveCommand },
  keys: { group: 'Server', usage: 'keys create|list|revoke', summary: 'API keys for the server', load: async () => (await importOptional(() => import('./keys.js'), SERVER_FEATURE('diffusekit keys'))).keysCommand },
  config: { group: 'Setup', usage: 'config get|set|unset|path', summary: 'defaults for every command', load: async () => (await import('./commands/config.js')).run },
  bench: { group: 'Setup', usage: 'bench [--sizes 256,512] [--repeat N]', summary: 'benchmark against stable-diffusion.cpp', load: async () => (await import('./commands/bench.js')).run },
};

function help(): string {
  const style = createStyle({ stream: process.stdout });
  const width = Math.max(...Object.values(COMMANDS).map((c) => c.usage.length)) + 'diffusekit '.length;
  const groups = ['Images', 'Models', 'Server', 'Setup'] as const;
  const sections = groups.map((group) => {
    const lines = Object.values(COMMANDS).filter((c) => c.group === group).map((c) => `  ${`diffusekit ${c.usage}`.padEnd(width)}  ${c.summary}`);
    return `${style.bold(`${group}:`)}\n${lines.join('\n')}`;
  });
  return `diffusekit ${VERSION}: local Stable Diffusion

Usage: diffusekit <command> [options]        diffusekit <command> --help: its options and examples

${sections.join('\n\n')}

${style.bold('Options of every command:')}
      --json              the result as one JSON document on stdout
      --progress MODE     auto (a bar when stderr is a terminal), bar, json (JSON lines on stderr), none
  -q, --quiet             only results and errors
      --no-color          no colours (or NO_COLOR=1)
  -h, --help              help
      --version           print the version

${EXIT_CODES_HELP}

Defaults come from the user config ('diffusekit config path') and ./diffusekit.config.json, and DIFFUSEKIT_*
variables: see 'diffusekit config --help'.

Examples:
  diffusekit generate "a cabin in misty mountains" -m ~/models/v1-5-pruned-emaonly.safetensors
  diffusekit config set model ~/models/v1-5-pruned-emaonly.safetensors
  diffusekit generate "a lighthouse at dusk" --size 768x512 -b 4 -o "out/{date}-{seed}.png"
  diffusekit upscale cabin.png -m ~/models/RealESRGAN_x4plus.pth
  diffusekit video "waves on a beach" -m wan2.1_t2v_1.3B_fp16.safetensors --vae wan_2.1_vae.safetensors -o clip.mp4
  diffusekit serve --no-auth
`;
}

// InvalidArgumentErrors about these parameters are about input files (exit 3); others reject a value (exit 1).
const FILE_PARAMETERS = new Set<string>([...COMPONENT_KEYS, 'initImage', 'maskImage', 'controlImage', 'image', 'loras', 'prompt', 'input', 'base', 'images']);

/** The exit status for an error, and what to print. */
export function describeFailure(err: unknown, command: string | undefined): { status: number; message: string | undefined } {
  const message = (err as Error)?.message ?? String(err);
  if (err instanceof UsageError || (err as { code?: string })?.code?.startsWith?.('ERR_PARSE_ARGS')) {
    const hint = (err as UsageError).hint ?? `Run 'diffusekit ${command && command in COMMANDS ? `${command} ` : ''}--help' for usage.`;
    return { status: 2, message: `${message}\n${hint}` };
  }
  if (err instanceof DiffusekitError && err.code === 'ABORT_ERR') return { status: INTERRUPTED_EXIT, message: interruptReported() ? undefined : 'interrupted' };
  if (err instanceof ModelFileError) return { status: 3, message };
  if (err instanceof InvalidArgumentError) {
    const parameter = err.parameter.replace(/\[.*$/, '');
    return { status: FILE_PARAMETERS.has(parameter) ? 3 : 1, message };
  }
  if (err instanceof DiffusekitError) return { status: 1, message };
  if (typeof (err as NodeJS.ErrnoException)?.code === 'string' && (err as NodeJS.ErrnoException).syscall) return { status: 1, message };
  return { status: 1, message: process.env.DIFFUSEKIT_DEBUG ? (err as Error)?.stack ?? message : message };
}

/** Runs the CLI; resolves with the exit status. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === undefined || command === '-h' || command === '--help') {
      process.stdout.write(help());
      return 0;
    }
    if (command === '--version' || command === '-V') {
      console.log(VERSION);
      return 0;
    }
    if (command === 'help') {
      if (rest[0] === undefined) {
        process.stdout.write(help());
        return 0;
      }
      if (!(rest[0] in COMMANDS)) throw new UsageError(`unknown command '${rest[0]}'`);
      return (await (await COMMANDS[rest[0]].load())(['--help'])) ?? 0;
    }
    const entry = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
    if (!entry) throw new UsageError(`unknown command '${command}'; commands: ${Object.keys(COMMANDS).join(', ')}`);
    exportLibraryDir();
    const run = await entry.load();
    // `--help` anywhere before `--` shows the command's help, whatever else is on the line
    const end = rest.indexOf('--');
    const flags = end < 0 ? rest : rest.slice(0, end);
    if (flags.includes('--help') || flags.includes('-h')) return (await run(['--help'])) ?? 0;
    return (await run(rest)) ?? 0;
  } catch (err) {
    const { status, message } = describeFailure(err, command);
    if (message !== undefined) process.stderr.write(`diffusekit: ${message}\n`);
    return status;
  }
}

/** The config's modelsDir, for the model library (DIFFUSEKIT_MODELS_DIR) unless the environment sets it. */
function exportLibraryDir(): void {
  if (process.env.DIFFUSEKIT_MODELS_DIR) return;
  try {
    const { modelsDir } = loadConfig().values;
    if (modelsDir) process.env.DIFFUSEKIT_MODELS_DIR = modelsDir;
  } catch {
    // a broken config file is reported by the commands that read it
  }
}

// `diffusekit info MODEL --tensors | head`: a closed pipe ends the output, not with a stack trace
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});
process.exitCode = await main(process.argv.slice(2));
