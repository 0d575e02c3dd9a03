// A truncated backend module must be refused before dlopen maps it: mapping pages past the end of a file
// kills the process with SIGBUS (seen with a prebuilt CPU variant cut off at 4 KiB).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkedLoader, truncatedModuleProblem } from '../lib/engine/module-file.js';

// Any real shared object of this machine will do: the check reads only ELF headers.
const sharedObject = ['/lib/x86_64-linux-gnu/libz.so.1', '/usr/lib/x86_64-linux-gnu/libz.so.1', '/lib64/libz.so.1'].find((f) => fs.existsSync(f));
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'diffusekit-module-'));
const write = (name: string, bytes: Buffer) => {
  const file = path.join(dir, name);
  fs.writeFileSync(file, bytes);
  return file;
};

describe.skipIf(!sharedObject || os.platform() !== 'linux')('backend module files', () => {
  const whole = fs.readFileSync(fs.realpathSync(sharedObject!));

  it('passes a whole ELF shared object, and files that are not ELF (left to the loader)', () => {
    expect(truncatedModuleProblem(write('whole.so', whole))).toBeUndefined();
    expect(truncatedModuleProblem(write('text.so', Buffer.from('not a library')))).toBeUndefined();
  });

  it('refuses one cut short anywhere: in a segment, in the header tables, inside the ELF header', () => {
    for (const length of [whole.length - 1, Math.floor(whole.length / 2), 4096, 100, 40]) {
      expect(truncatedModuleProblem(write(`cut-${length}.so`, whole.subarray(0, length))), `cut at ${length}`).toMatch(/truncated or corrupt|not a 64-bit/);
    }
    const wrongClass = Buffer.from(whole);
    wrongClass[4] = 1; // ELFCLASS32
    expect(truncatedModuleProblem(write('class32.so', wrongClass))).toMatch(/not a 64-bit little-endian ELF/);
    expect(truncatedModuleProblem(path.join(dir, 'missing.so'))).toMatch(/ENOENT/);
  });

  it('the checked loader throws before the native loader sees a bad file; bare system names pass through', () => {
    const opened: string[] = [];
    const loader = checkedLoader({ probeBackend: (file: string) => (opened.push(file), 7), loadBackend: (file: string) => (opened.push(file), { name: 'x', devices: [] }) });
    expect(() => loader.probeBackend(write('short.so', whole.subarray(0, 4096)))).toThrow(/truncated or corrupt/);
    expect(() => loader.loadBackend(path.join(dir, 'short.so'))).toThrow(/truncated or corrupt/);
    expect(opened).toEqual([]);
    expect(loader.probeBackend(write('ok.so', whole))).toBe(7);
    expect(loader.probeBackend('libcuda.so.1')).toBe(7);
    expect(opened).toEqual([path.join(dir, 'ok.so'), 'libcuda.so.1']);
  });
});
