/**
 * ANSI colours for the CLI, on only where they help: NO_COLOR (any value) turns them off, FORCE_COLOR turns
 * them on (FORCE_COLOR=0 off), else they follow whether the stream is a terminal (and TERM is not "dumb").
 */
export interface Style {
  readonly enabled: boolean;
  bold(text: string): string;
  dim(text: string): string;
  red(text: string): string;
  green(text: string): string;
  yellow(text: string): string;
  cyan(text: string): string;
}

export interface StyleOptions {
  /** The stream the text goes to (its isTTY decides when the environment does not). */
  stream?: { isTTY?: boolean };
  env?: NodeJS.ProcessEnv;
  /** An explicit choice (--no-color): beats the environment. */
  color?: boolean;
}

/** Whether colour is on for a stream, by the NO_COLOR / FORCE_COLOR conventions. */
export function colorEnabled({ stream = process.stderr, env = process.env, color }: StyleOptions = {}): boolean {
  if (color !== undefined) return color;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined) return env.FORCE_COLOR !== '0' && env.FORCE_COLOR !== 'false';
  return Boolean(stream.isTTY) && env.TERM !== 'dumb';
}

const sgr = (open: number, close: number) => (text: string) => `\x1b[${open}m${text}\x1b[${close}m`;
const plain = (text: string) => text;

export function createStyle(options: StyleOptions = {}): Style {
  const enabled = colorEnabled(options);
  const pick = (open: number, close: number) => (enabled ? sgr(open, close) : plain);
  return {
    enabled,
    bold: pick(1, 22),
    dim: pick(2, 22),
    red: pick(31, 39),
    green: pick(32, 39),
    yellow: pick(33, 39),
    cyan: pick(36, 39),
  };
}

/** The text without ANSI escape sequences (for measuring what a terminal line shows). */
export function stripAnsi(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');
}
