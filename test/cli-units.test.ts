import fs from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { parseExtend } from '../src/cli/commands/outpaint.js';
import { parseSize, suggestKey } from '../src/cli/config.js';
import { parseLora } from '../src/cli/generation.js';
import { checkTemplate, claimFile, dateStamp, expandTemplate, slug, withIndex } from '../src/cli/output.js';
import { createProgress, formatBytes, formatDuration } from '../src/cli/progress.js';
import { colorEnabled, createStyle } from '../src/cli/style.js';
import { tempDir } from './helpers/models.js';

// The CLI's pieces in-process; test/cli-*.test.ts run the commands themselves.

function capture(isTTY: boolean) {
  const stream = Object.assign(new PassThrough(), { isTTY, columns: 100 });
  let text = '';
  stream.on('data', (d) => (text += d));
  return { stream, text: () => text };
}

describe('output templates', () => {
  it('expands placeholders, slugs prompts and stamps dates', () => {
    expect(slug('A Red Fox, at dawn! <lora:style:0.8> in the snow')).toBe('a-red-fox-at-dawn-in');
    expect(slug('Café crème')).toBe('cafe-creme');
    expect(slug('!!!')).toBe('image');
    expect(slug('a'.repeat(80))).toHaveLength(48);
    expect(dateStamp(new Date(2025, 0, 2, 3, 4, 5))).toBe('20250102-030405');
    expect(expandTemplate('out/{date}-{seed}-{index}.png', { date: 'D', seed: 42, index: 1 })).toBe('out/D-42-1.png');
    expect(withIndex('out/fox.png')).toBe('out/fox-{index}.png');
    expect(() => checkTemplate('{when}.png', ['seed'])).toThrow("unknown placeholder {when} in '{when}.png'; use {seed}");
    expect(() => checkTemplate('fox.gif', ['seed'])).toThrow("'fox.gif' must end in .png, .jpg, .jpeg, .webp");
  });

  it('claims a free name (-1, -2, ...) unless forced, creating folders', () => {
    const dir = tempDir();
    const file = path.join(dir, 'a', 'b', 'x.png');
    expect(claimFile(file, false)).toBe(file);
    expect(claimFile(file, false)).toBe(path.join(dir, 'a', 'b', 'x-1.png'));
    expect(claimFile(file, false)).toBe(path.join(dir, 'a', 'b', 'x-2.png'));
    expect(claimFile(file, true)).toBe(file);
    expect(fs.readdirSync(path.join(dir, 'a', 'b')).sort()).toEqual(['x-1.png', 'x-2.png', 'x.png']);
  });
});

describe('flag parsing', () => {
  it('sizes, LoRAs, outpaint extents and config key suggestions', () => {
    expect(parseSize('512x768')).toEqual({ width: 512, height: 768 });
    expect(parseSize('512')).toEqual({ width: 512, height: 512 });
    expect(parseSize('big')).toBeUndefined();
    expect(parseLora('style:0.8')).toEqual({ name: 'style', weight: 0.8 });
    expect(parseLora('style')).toEqual({ name: 'style', weight: undefined });
    expect(parseLora('./loras/x.safetensors:-0.5')).toEqual({ path: './loras/x.safetensors', weight: -0.5 });
    expect(parseLora('C:/x.safetensors')).toEqual({ path: 'C:/x.safetensors', weight: undefined });
    expect(parseExtend('64')).toEqual({ left: 64, right: 64, top: 64, bottom: 64 });
    expect(parseExtend('64,32')).toEqual({ left: 64, right: 64, top: 32, bottom: 32 });
    expect(parseExtend('1,2,3,4')).toEqual({ left: 1, right: 2, top: 3, bottom: 4 });
    expect(() => parseExtend('1,2,3')).toThrow('--extend expects L,R,T,B');
    expect(suggestKey('stpes')).toBe('steps');
    expect(suggestKey('port')).toBe('server.port');
    expect(suggestKey('zzzzzzzz')).toBeUndefined();
  });
});

describe('colours and progress', () => {
  it('colours follow NO_COLOR, FORCE_COLOR and the terminal', () => {
    expect(colorEnabled({ stream: { isTTY: true }, env: {} })).toBe(true);
    expect(colorEnabled({ stream: { isTTY: false }, env: {} })).toBe(false);
    expect(colorEnabled({ stream: { isTTY: true }, env: { NO_COLOR: '1' } })).toBe(false);
    expect(colorEnabled({ stream: { isTTY: false }, env: { FORCE_COLOR: '1' } })).toBe(true);
    expect(colorEnabled({ stream: { isTTY: true }, env: { FORCE_COLOR: '0' } })).toBe(false);
    expect(colorEnabled({ stream: { isTTY: true }, env: { TERM: 'dumb' } })).toBe(false);
    expect(createStyle({ color: true }).green('ok')).toBe('\x1b[32mok\x1b[39m');
    expect(createStyle({ color: false }).green('ok')).toBe('ok');
  });

  it('draws bars with rate and ETA on a terminal, keeps finished bars, and ends spinners with a message', () => {
    let t = 0;
    const { stream, text } = capture(true);
    const progress = createProgress({ stream, style: createStyle({ color: false }), now: () => t });
    progress.spinner('Loading model');
    t = 1500;
    progress.done('Loaded model');
    progress.bar('Sampling', 10);
    progress.update(1);
    t = 2500;
    progress.update(3);
    t = 3500;
    progress.update(5);
    progress.done();
    progress.bar('Pulling', 2_000_000, { unit: 'bytes' });
    progress.update(1_000_000);
    t = 4500;
    progress.update(1_500_000, 'file 1/2');
    progress.fail('network down');
    const out = text();
    expect(out).toContain('\r\x1b[2K⠋ Loading model 0.0s');
    expect(out).toContain('\r\x1b[2K✔ Loaded model  1.5s\n');
    expect(out).toMatch(/Sampling {2}━{12}╸─{11} {2}5\/10 {2}2\.00 it\/s {2}ETA 2\.5s\n/);
    expect(out).toMatch(/Pulling .* 1\.50 MB\/2\.00 MB {2}500 kB\/s {2}ETA 1\.0s {2}file 1\/2/);
    expect(out).toMatch(/✖ network down\n$/);
  });

  it('writes JSON lines in json mode, and nothing when disabled', () => {
    let t = 0;
    const json = capture(false);
    const progress = createProgress({ stream: json.stream, json: true, now: () => t });
    progress.bar('Sampling', 4);
    progress.update(1);
    t = 1000;
    progress.update(3, 'image 1/1');
    progress.done();
    const events = json.text().trim().split('\n').map((l) => JSON.parse(l));
    expect(events).toEqual([
      { event: 'bar', label: 'Sampling', total: 4, unit: 'steps' },
      { event: 'progress', label: 'Sampling', current: 1, total: 4, unit: 'steps', elapsed: 0 },
      { event: 'progress', label: 'Sampling', current: 3, total: 4, unit: 'steps', rate: 2, eta: 0.5, elapsed: 1, extra: 'image 1/1' },
      { event: 'done', label: 'Sampling', elapsed: 1 },
    ]);
    const silent = capture(false);
    const quiet = createProgress({ stream: silent.stream });
    quiet.spinner('x');
    quiet.bar('y', 2);
    quiet.update(1);
    quiet.done('z');
    expect(silent.text()).toBe('');
  });

  it('formats durations and sizes', () => {
    expect([formatDuration(1.23), formatDuration(42.4), formatDuration(185), formatDuration(3720)]).toEqual(['1.2s', '42s', '3m05s', '1h02m']);
    expect([formatBytes(512), formatBytes(1500), formatBytes(12_345_678), formatBytes(2.1e9)]).toEqual(['512 B', '1.50 kB', '12.3 MB', '2.10 GB']);
  });
});
