import { parseArgs } from 'node:util';
import { findSplitAlias, MODEL_ALIASES, SPLIT_MODEL_ALIASES } from '../../models/aliases.js';
import { pullModel, type DownloadProgress } from '../../models/hub.js';
import { libraryDir, listModels, removeModel, type LibraryModel } from '../../models/library.js';
import { pullSplitModel } from '../../models/split-pull.js';
import { createCli, EXIT_CODES_HELP, OUTPUT_HELP, OUTPUT_OPTIONS, type Cli } from '../context.js';
import { handleInterrupts } from '../interrupt.js';
import { formatBytes } from '../progress.js';
import { UsageError } from '../usage-error.js';

const aliasLines = MODEL_ALIASES.map((a) => `  ${a.name.padEnd(14)}${a.description}\n${' '.repeat(16)}${a.repo}:${a.file}`).join('\n');
const splitAliasLines = SPLIT_MODEL_ALIASES.map((a) =>
  [`  ${a.name.padEnd(16)}${a.description}`, ...a.parts.map((p) => `${' '.repeat(18)}${p.slot.padEnd(15)}${p.repo}:${p.file}`)].join('\n')).join('\n');

export const HELP = `diffusekit models: the local model library, and downloads from the Hugging Face Hub

Usage:
  diffusekit models list [--json]                       the library's models: name, family, role, weight type, size
  diffusekit models pull ALIAS|OWNER/REPO[:FILE] [--revision R] [--json]
                                                        download into the library (resumes an interrupted pull)
  diffusekit models rm NAME...                          delete models (by name, file name or alias)

A model in the library is loaded by its name (the file name without extension) or the alias it was pulled
by: diffusekit generate "a cabin" -m sd-1.5; diffusekit serve --model sdxl. A path always wins over a name.

Options:
      --revision R        pull: branch, tag or commit (default main)
      --dir DIR           the library folder (default: config 'modelsDir', $DIFFUSEKIT_MODELS_DIR,
                          ~/.cache/diffusekit/models)

${OUTPUT_HELP}

Environment:
  HF_TOKEN                access token for gated repositories (accept the license on the Hub first)
  HF_ENDPOINT             a Hub mirror (default https://huggingface.co)

Aliases:
${aliasLines}

Split models (one pull fetches every file into a folder of the library, named after the alias, that loads
as the model: diffusekit generate "a cabin" -m z-image-turbo):
${splitAliasLines}

${EXIT_CODES_HELP}

Examples:
  diffusekit models pull sd-1.5
  diffusekit models pull stabilityai/sdxl-turbo:sd_xl_turbo_1.0_fp16.safetensors
  diffusekit models pull z-image-turbo
  HF_TOKEN=hf_... diffusekit models pull sd3.5-medium
  diffusekit models list --json | jq -r '.models[] | select(.role == "checkpoint") | .name'
  diffusekit models rm sd-1.5
`;

/** `diffusekit models list|pull|rm`. */
export async function run(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { revision: { type: 'string' }, dir: { type: 'string' }, ...OUTPUT_OPTIONS },
  });
  const [subcommand, ...names] = positionals;
  if (values.help || subcommand === undefined || subcommand === 'help') {
    process.stdout.write(HELP);
    return;
  }
  const cli = createCli(values);
  const dir = libraryDir(values.dir); // main() puts the config's modelsDir in $DIFFUSEKIT_MODELS_DIR
  if (subcommand === 'list' || subcommand === 'ls') {
    if (names.length > 0) throw new UsageError(`models list takes no arguments, got '${names[0]}'`);
    await list(cli, dir);
  } else if (subcommand === 'rm' || subcommand === 'remove') {
    if (names.length === 0) throw new UsageError('models rm needs a NAME: diffusekit models rm sd-1.5');
    await remove(cli, dir, names);
  } else if (subcommand === 'pull') {
    if (names.length !== 1) throw new UsageError('models pull needs one ALIAS or OWNER/REPO[:FILE]: diffusekit models pull sd-1.5');
    await pull(cli, dir, names[0], values.revision, (values.progress ?? 'auto') === 'auto');
  } else {
    throw new UsageError(`unknown models command '${subcommand}' (list, pull, rm)`, "Run 'diffusekit models --help' for usage.");
  }
}

async function list(cli: Cli, dir: string): Promise<void> {
  const models = await listModels({ dir });
  if (cli.json) {
    cli.printJson({ dir, models });
    return;
  }
  if (models.length === 0) {
    cli.note(`The library (${dir}) is empty: pull a model with 'diffusekit models pull sd-1.5'`);
    return;
  }
  const rows = [['NAME', 'FAMILY', 'ROLE', 'TYPE', 'SIZE', 'ALIAS'], ...models.map(row)];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const r of rows) cli.print(r.map((cell, i) => cell.padEnd(widths[i])).join('  ').trimEnd());
  for (const m of models) if (m.problem) cli.note(cli.style.red(`${m.name}: ${m.problem}`));
  cli.note(cli.style.dim(`${models.length} model${models.length === 1 ? '' : 's'} in ${dir}`));
}

const row = (m: LibraryModel): string[] => [m.name, m.family, m.problem ? 'broken' : m.role, m.weightType ?? '-', formatBytes(m.size), m.alias ?? ''];

async function remove(cli: Cli, dir: string, names: string[]): Promise<void> {
  const removed = [];
  for (const name of names) {
    const model = await removeModel(name, { dir });
    removed.push(model);
    if (!cli.json) cli.print(`removed ${model.name} (${model.path})`);
  }
  if (cli.json) cli.printJson({ removed });
}

async function pull(cli: Cli, dir: string, source: string, revision: string | undefined, plainLines: boolean): Promise<void> {
  const { progress, style } = cli;
  const interrupt = handleInterrupts(progress);
  let current: string | undefined;
  let nextPercent = 10;
  const onProgress = (e: DownloadProgress) => {
    if (e.file !== current) {
      current = e.file; // a split model's files come one after the other
      nextPercent = 10;
      progress.bar(`Pulling ${style.bold(e.file)}`, e.total, { unit: 'bytes' });
    }
    progress.update(e.received);
    // Without a live bar (stderr not a terminal), a plain line every 10 %.
    if (plainLines && !progress.live && e.total && (e.received / e.total) * 100 >= nextPercent) {
      const percent = Math.floor((e.received / e.total) * 10) * 10;
      nextPercent = percent + 10;
      cli.note(`${e.file}: ${percent}% (${formatBytes(e.received)} of ${formatBytes(e.total)})`);
    }
  };
  try {
    progress.spinner(`Asking the Hub for ${style.bold(source)}`);
    if (findSplitAlias(source)) {
      const split = await pullSplitModel(source, { dir, revision, onProgress, signal: interrupt.signal });
      const size = split.parts.reduce((n, p) => n + p.size, 0);
      const what = `${style.bold(split.name)} ${style.dim(`(${split.parts.length} files, ${formatBytes(size)})`)}`;
      progress.done(split.downloaded ? `Pulled ${what}` : `Already in the library: ${what}`);
      if (cli.json) cli.printJson(split);
      else cli.print(split.path);
      return;
    }
    const result = await pullModel(source, { dir, revision, onProgress, signal: interrupt.signal });
    const what = `${style.bold(result.name)} ${style.dim(`(${formatBytes(result.size)}, sha256 ${result.sha256.slice(0, 12)}…)`)}`;
    progress.done(result.downloaded ? `Pulled ${what}` : `Already in the library: ${what}`);
    if (cli.json) cli.printJson(result);
    else cli.print(result.path);
  } catch (err) {
    progress.clear();
    throw err;
  } finally {
    interrupt.dispose();
  }
}
