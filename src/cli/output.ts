import fs from 'node:fs';
import path from 'node:path';
import { UsageError } from './usage-error.js';

/**
 * Output file names from templates: `{seed}`, `{date}` (YYYYMMDD-HHMMSS, local time, one per command),
 * `{prompt}` (a slug of the prompt's first words), `{index}` (1-based, within the command), `{model}` (its
 * file name without extension); upscale adds `{name}` (the input's file name without extension) and
 * `{scale}`. Existing files are never replaced unless `force`: `-1`, `-2`, ... is added before the extension.
 */
export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg', '.webp'];

/** Checks a template: known placeholders, an image extension. Throws UsageError naming the flag. */
export function checkTemplate(template: string, placeholders: readonly string[], flag = '--output', extensions: readonly string[] = IMAGE_EXTENSIONS): void {
  for (const [, name] of template.matchAll(/\{([^{}]*)\}/g)) {
    if (!placeholders.includes(name)) {
      throw new UsageError(`${flag}: unknown placeholder {${name}} in '${template}'; use ${placeholders.map((p) => `{${p}}`).join(', ')}`);
    }
  }
  const ext = path.extname(template).toLowerCase();
  if (!extensions.includes(ext)) throw new UsageError(`${flag}: '${template}' must end in ${extensions.join(', ')}`);
}

export const hasPlaceholder = (template: string, ...names: string[]): boolean => names.some((n) => template.includes(`{${n}}`));

/** `-{index}` before the extension, for several outputs from a template that would name them all alike. */
export function withIndex(template: string): string {
  const ext = path.extname(template);
  return `${template.slice(0, template.length - ext.length)}-{index}${ext}`;
}

export function expandTemplate(template: string, values: Record<string, string | number>): string {
  return template.replace(/\{([^{}]*)\}/g, (whole, name: string) => (name in values ? String(values[name]) : whole));
}

/** "A cabin, in misty mountains!" -> "a-cabin-in-misty-mountains" (first 6 words, at most 48 characters). */
export function slug(text: string, words = 6, max = 48): string {
  const cleaned = text
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/<[^>]*>/g, ' ')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean)
    .slice(0, words)
    .join('-');
  const cut = cleaned.length > max ? cleaned.slice(0, max).replace(/-[^-]*$/, '') || cleaned.slice(0, max) : cleaned;
  return cut || 'image';
}

/** YYYYMMDD-HHMMSS in local time. */
export function dateStamp(date = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}${p(date.getMonth() + 1)}${p(date.getDate())}-${p(date.getHours())}${p(date.getMinutes())}${p(date.getSeconds())}`;
}

/**
 * Claims an output path: creates missing folders, then creates the file exclusively, so two runs never
 * write the same file; when it exists, tries name-1.ext, name-2.ext, ... With `force` the path is used as it is.
 */
export function claimFile(file: string, force: boolean): string {
  try {
    return claim(file, force);
  } catch (err) {
    throw new Error(`cannot write ${file}: ${(err as Error).message}`, { cause: err });
  }
}

function claim(file: string, force: boolean): string {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  if (force) return file;
  const ext = path.extname(file);
  const stem = file.slice(0, file.length - ext.length);
  for (let n = 0; ; n++) {
    const candidate = n === 0 ? file : `${stem}-${n}${ext}`;
    try {
      fs.closeSync(fs.openSync(candidate, 'wx'));
      return candidate;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
}

/** Writes to a claimed path through `write`; removes the claim if writing fails. */
export async function writeClaimed(file: string, force: boolean, write: (file: string) => Promise<void>): Promise<string> {
  const claimed = claimFile(file, force);
  try {
    await write(claimed);
  } catch (err) {
    if (!force) fs.rmSync(claimed, { force: true });
    throw err;
  }
  return claimed;
}
