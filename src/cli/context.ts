import { createProgress, type Progress } from './progress.js';
import { createStyle, type Style } from './style.js';
import { UsageError } from './usage-error.js';

/** Flags every command takes: how it reports, not what it does. */
export const OUTPUT_OPTIONS = {
  json: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
  progress: { type: 'string' },
  'no-color': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const OUTPUT_HELP = `Output:
      --json              the result as one JSON document on stdout (progress and messages stay on stderr)
      --progress MODE     auto (a live bar when stderr is a terminal; the default), bar, json (JSON lines
                          on stderr), none
  -q, --quiet             no progress or messages, only the result and errors
      --no-color          no colours (also NO_COLOR=1; FORCE_COLOR=1 forces them)
  -h, --help              this help`;

export const PROGRESS_MODES = ['auto', 'bar', 'json', 'none'] as const;

/** What a command needs to report: colours and progress for stderr, results for stdout. */
export interface Cli {
  readonly json: boolean;
  readonly quiet: boolean;
  /** Colours for stderr. */
  readonly style: Style;
  readonly progress: Progress;
  /** A result line on stdout (text mode). */
  print(line: string): void;
  /** The command's result on stdout as one JSON document. */
  printJson(value: unknown): void;
  /** A message on stderr, unless --quiet or --json. */
  note(line: string): void;
}

export interface OutputFlags {
  json?: boolean;
  quiet?: boolean;
  progress?: string;
  'no-color'?: boolean;
}

export function createCli(flags: OutputFlags, stderr: NodeJS.WriteStream = process.stderr): Cli {
  const mode = flags.progress ?? 'auto';
  if (!(PROGRESS_MODES as readonly string[]).includes(mode)) throw new UsageError(`--progress must be one of ${PROGRESS_MODES.join(', ')}, got '${mode}'`);
  const quiet = flags.quiet ?? false;
  const json = flags.json ?? false;
  const style = createStyle({ stream: stderr, color: flags['no-color'] ? false : undefined });
  const live = !quiet && (mode === 'bar' || (mode === 'auto' && Boolean(stderr.isTTY) && process.env.TERM !== 'dumb'));
  const progress = createProgress({ stream: stderr, style, enabled: live, json: !quiet && mode === 'json' });
  return {
    json,
    quiet,
    style,
    progress,
    print: (line) => void process.stdout.write(`${line}\n`),
    printJson: (value) => void process.stdout.write(`${JSON.stringify(value, null, 2)}\n`),
    note: (line) => {
      if (quiet || json) return;
      if (progress.live || mode === 'json') progress.log(line);
      else stderr.write(`${line}\n`);
    },
  };
}

/** A flag's text as a number; a usage error names the flag. */
export function numberFlag(flag: string, value: string | undefined, integer = false): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--${flag} expects a number, got '${value}'`);
  if (integer && !Number.isInteger(n)) throw new UsageError(`--${flag} expects a whole number, got '${value}'`);
  return n;
}

export const EXIT_CODES_HELP = `Exit codes: 0 ok, 1 failure (a value out of range, an engine error, ...), 2 usage or config error,
3 input or model file problem (missing, unreadable, not a model or image), 130 interrupted (Ctrl-C).`;
