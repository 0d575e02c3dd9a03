import { createStyle, stripAnsi, type Style } from './style.js';

/**
 * One live status line on a terminal (stderr): a spinner with elapsed time for work of unknown length, or a
 * bar with count, rate and ETA. One line at a time: starting a spinner or bar replaces the current one.
 *
 *   const progress = createProgress({ enabled: process.stderr.isTTY });
 *   progress.spinner('Loading model');            // ⠹ Loading model  1.2s
 *   progress.done('Loaded model');                // ✔ Loaded model  1.4s
 *   progress.bar('Downloading', bytes, { unit: 'bytes' });
 *   progress.update(received);                    // Downloading ━━━━━━╸──── 512 MB/1.2 GB  48 MB/s  ETA 15s
 *   progress.done();                              // keeps the final bar as a line
 *
 * With `json`, each event is instead one JSON line on the stream (see ProgressEventJson); with neither,
 * everything is silent, so callers need no conditions of their own.
 */
export interface Progress {
  /** Drawing live lines on a terminal. */
  readonly live: boolean;
  /** Work of unknown length: an animated spinner with the elapsed time. */
  spinner(label: string): void;
  /** Work of `total` units (undefined: unknown total, a counter without bar). */
  bar(label: string, total: number | undefined, options?: BarOptions): void;
  /** The current bar's count; `extra` is shown after the rate (e.g. "image 1/2"). */
  update(current: number, extra?: string): void;
  /** A line above the live one (the live line is redrawn below it). */
  log(line: string): void;
  /** Ends the current line: replaced by `✔ message`, or, without a message, a bar is kept as it stands. */
  done(message?: string): void;
  /** Ends the current line with `✖ message`. */
  fail(message: string): void;
  /** Erases the live line (before other output, or at exit). */
  clear(): void;
}

export interface BarOptions {
  /** What is counted: 'steps' (rates in it/s), 'bytes' (sizes and B/s), or any noun ('tiles'). Default 'steps'. */
  unit?: string;
}

export interface ProgressOptions {
  /** Default process.stderr. */
  stream?: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  /** Draw live lines. Default: the stream is a terminal. */
  enabled?: boolean;
  /** JSON lines instead of drawing (beats `enabled`). */
  json?: boolean;
  /** Colours; default by the stream (NO_COLOR, FORCE_COLOR). */
  style?: Style;
  /** Milliseconds clock, for tests. */
  now?: () => number;
}

/** The JSON lines of `json` mode: `event` is spinner, bar, progress, done, fail or log. */
export interface ProgressEventJson {
  event: 'spinner' | 'bar' | 'progress' | 'done' | 'fail' | 'log';
  label?: string;
  current?: number;
  total?: number | null;
  unit?: string;
  /** Units per second. */
  rate?: number;
  /** Seconds left, when the total is known. */
  eta?: number;
  /** Seconds since this spinner or bar started. */
  elapsed?: number;
  extra?: string;
  message?: string;
}

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const REDRAW_MS = 80;
const BAR_WIDTH = 24;

/** 1.2s, 42s, 3m05s, 1h02m. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  if (seconds < 10) return `${seconds.toFixed(1)}s`;
  if (seconds < 60) return `${Math.round(seconds)}s`;
  const s = Math.round(seconds);
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** 512 B, 1.5 kB, 12.3 MB, 2.1 GB (decimal units, as download tools show them). */
export function formatBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(value < 10 ? 2 : value < 100 ? 1 : 0)} ${units[unit]}`;
}

function formatRate(rate: number, unit: string): string {
  if (!Number.isFinite(rate) || rate <= 0) return '';
  if (unit === 'bytes') return `${formatBytes(rate)}/s`;
  if (unit === 'steps') return rate >= 1 ? `${rate.toFixed(2)} it/s` : `${(1 / rate).toFixed(2)} s/it`;
  return `${rate.toFixed(rate >= 10 ? 0 : 1)} ${unit}/s`;
}

const round = (n: number, digits = 3) => Number(n.toFixed(digits));

interface Current {
  kind: 'spinner' | 'bar';
  label: string;
  started: number;
  total?: number;
  unit: string;
  count: number;
  extra?: string;
  frame: number;
  /** The first update: rates count from there (the work before it, loading or warm-up, would skew them). */
  base?: { count: number; at: number };
}

export function createProgress(options: ProgressOptions = {}): Progress {
  const stream = options.stream ?? process.stderr;
  const json = options.json ?? false;
  const live = !json && (options.enabled ?? Boolean(stream.isTTY));
  const style = options.style ?? createStyle({ stream });
  const now = options.now ?? (() => performance.now());
  let current: Current | undefined;
  let timer: NodeJS.Timeout | undefined;
  let lastDraw = 0;
  let drawn = false;

  const seconds = (c: Current) => (now() - c.started) / 1000;
  const rateOf = (c: Current) => {
    if (!c.base || c.count <= c.base.count) return 0;
    const dt = (now() - c.base.at) / 1000;
    return dt > 0 ? (c.count - c.base.count) / dt : 0;
  };
  const emit = (event: ProgressEventJson) => stream.write(`${JSON.stringify(event)}\n`);

  const fit = (line: string): string => {
    const columns = stream.columns || 80;
    if (columns < 20) return line;
    const visible = stripAnsi(line);
    if (visible.length < columns) return line;
    return visible.slice(0, Math.max(0, columns - 2)) + '…';
  };

  const render = (c: Current): string => {
    const elapsed = seconds(c);
    if (c.kind === 'spinner') return `${style.cyan(FRAMES[c.frame % FRAMES.length])} ${c.label} ${style.dim(formatDuration(elapsed))}`;
    const rate = rateOf(c);
    const parts = [c.label];
    if (c.total !== undefined && c.total > 0) {
      const fraction = Math.min(1, c.count / c.total);
      const filled = Math.floor(fraction * BAR_WIDTH);
      const head = filled < BAR_WIDTH ? '╸' : '';
      parts.push(style.cyan('━'.repeat(filled) + head) + style.dim('─'.repeat(Math.max(0, BAR_WIDTH - filled - head.length))));
    }
    const amount = c.unit === 'bytes'
      ? `${formatBytes(c.count)}${c.total !== undefined ? `/${formatBytes(c.total)}` : ''}`
      : `${c.count}${c.total !== undefined ? `/${c.total}` : ''}${c.unit === 'steps' ? '' : ` ${c.unit}`}`;
    parts.push(amount);
    const rateText = formatRate(rate, c.unit);
    if (rateText) parts.push(style.dim(rateText));
    if (c.total !== undefined && c.count < c.total && rate > 0) parts.push(style.dim(`ETA ${formatDuration((c.total - c.count) / rate)}`));
    else parts.push(style.dim(formatDuration(elapsed)));
    if (c.extra) parts.push(c.extra);
    return parts.join('  ');
  };

  const draw = (force = false) => {
    if (!live || !current) return;
    const t = now();
    if (!force && drawn && t - lastDraw < REDRAW_MS) return;
    lastDraw = t;
    drawn = true;
    stream.write(`\r\x1b[2K${fit(render(current))}`);
  };

  const erase = () => {
    if (live && drawn) stream.write('\r\x1b[2K');
    drawn = false;
  };

  const stopTimer = () => {
    if (timer) clearInterval(timer);
    timer = undefined;
  };

  const finish = (line: string | undefined, event: 'done' | 'fail', message?: string) => {
    stopTimer();
    const c = current;
    current = undefined;
    if (json) {
      if (c || message) emit({ event, label: c?.label, message, elapsed: c ? round(seconds(c)) : undefined });
      return;
    }
    if (!live) return;
    erase();
    if (line !== undefined) stream.write(`${fit(line)}\n`);
  };

  const start = (c: Current) => {
    // a bar that is replaced stays as a line; a spinner goes
    if (current) finish(current.kind === 'bar' ? render(current) : undefined, 'done');
    current = c;
    lastDraw = 0;
  };

  return {
    live,
    spinner(label) {
      start({ kind: 'spinner', label, started: now(), unit: '', count: 0, frame: 0 });
      if (json) return emit({ event: 'spinner', label });
      if (!live) return;
      draw(true);
      timer = setInterval(() => {
        if (current) current.frame += 1;
        draw(true);
      }, REDRAW_MS);
      timer.unref();
    },
    bar(label, total, barOptions = {}) {
      const unit = barOptions.unit ?? 'steps';
      start({ kind: 'bar', label, started: now(), total, unit, count: 0, frame: 0 });
      if (json) return emit({ event: 'bar', label, total: total ?? null, unit });
      draw(true);
    },
    update(count, extra) {
      if (!current || current.kind !== 'bar') return;
      current.count = count;
      current.extra = extra;
      const first = current.base === undefined;
      current.base ??= { count, at: now() };
      if (json) {
        const rate = rateOf(current);
        const eta = current.total !== undefined && rate > 0 ? (current.total - count) / rate : undefined;
        return emit({
          event: 'progress', label: current.label, current: count, total: current.total ?? null, unit: current.unit,
          rate: rate > 0 ? round(rate) : undefined, eta: eta === undefined ? undefined : round(eta, 1), elapsed: round(seconds(current)), extra,
        });
      }
      draw(first || (current.total !== undefined && count >= current.total));
    },
    log(line) {
      if (json) return emit({ event: 'log', message: line });
      if (!live) return;
      erase();
      stream.write(`${line}\n`);
      draw(true);
    },
    done(message) {
      const c = current;
      const line = message !== undefined
        ? `${style.green('✔')} ${message}${c ? `  ${style.dim(formatDuration(seconds(c)))}` : ''}`
        : c?.kind === 'bar' ? render(c) : undefined;
      finish(line, 'done', message);
    },
    fail(message) {
      finish(`${style.red('✖')} ${message}`, 'fail', message);
    },
    clear() {
      stopTimer();
      erase();
    },
  };
}

/**
 * A bar over the tensors a model load (or conversion) reads: it replaces the spinner at the first report;
 * when all are read the spinner `after` (if given) covers what follows.
 */
export function tensorProgress(progress: Progress, label: string, after?: string): (e: { tensors: number; total: number }) => void {
  let shown = false;
  let finished = false;
  return ({ tensors, total }) => {
    if (finished) return;
    if (!shown) {
      progress.bar(label, total, { unit: 'tensors' });
      shown = true;
    }
    progress.update(tensors);
    if (tensors >= total) {
      finished = true;
      if (after) {
        progress.done();
        progress.spinner(after);
      }
    }
  };
}
