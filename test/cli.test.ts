import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readPngText } from '../src/index.js';
import { tempDir, tinyModel } from './helpers/models.js';

// The built CLI (lib/ is made by `npm install`'s prepare step, or `npm run build:ts`).
const cli = path.resolve(import.meta.dirname, '..', 'lib', 'cli', 'main.js');
const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });

describe('diffusekit command', () => {
  it('generate writes the image with its parameters', () => {
    const out = path.join(tempDir(), 'cabin.png');
    const r = run('generate', '-m', tinyModel(), '-p', 'a cabin', '-W', '64', '-H', '64', '--steps', '1', '--seed', '9', '--sampler', 'Euler a', '-o', out);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`${out}  seed 9\n`);
    expect(readPngText(fs.readFileSync(out)).parameters).toMatch(/^a cabin\nSteps: 1, Sampler: Euler a, CFG scale: 7, Seed: 9, Size: 64x64/);
  });

  it('serve --help documents the server; bad serve options exit 2, 1 or 3 with a message', () => {
    const help = run('serve', '--help');
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('--data-dir DIR');
    expect(help.stdout).toContain('--no-auth');
    const usage = run('serve', '--port', 'eighty');
    expect([usage.status, usage.stderr]).toEqual([2, expect.stringContaining("--port expects a number, got 'eighty'")]);
    const invalid = run('serve', '--workers', '0', '--data-dir', tempDir());
    expect([invalid.status, invalid.stderr]).toEqual([1, expect.stringContaining('workers')]);
    const missing = run('serve', '--model', '/nonexistent/model.safetensors', '--data-dir', tempDir());
    expect([missing.status, missing.stderr]).toEqual([3, expect.stringContaining('/nonexistent/model.safetensors')]);
    const classifier = run('serve', '--safety-model', '/nonexistent/nsfw.onnx', '--data-dir', tempDir());
    expect([classifier.status, classifier.stderr]).toEqual([1, expect.stringContaining('safetyClassifier.model file not found: /nonexistent/nsfw.onnx')]);
    expect(run('serve', '--safety-threshold', '0.8').status).toBe(2);
    expect(help.stdout).toContain('--prompt-model FILE');
    expect(help.stdout).toContain('--nsfw-threshold CLASS=P');
    const both = run('serve', '--prompt-model', 'x.gguf', '--prompt-enhancer-url', 'http://127.0.0.1:1/v1');
    expect([both.status, both.stderr]).toEqual([2, expect.stringContaining('--prompt-model and --prompt-enhancer-url exclude each other')]);
    expect(run('serve', '--nsfw-threshold', 'Porn').status).toBe(2);
    const promptModel = run('serve', '--prompt-model', '/nonexistent/qwen.gguf', '--data-dir', tempDir());
    expect([promptModel.status, promptModel.stderr]).toEqual([3, expect.stringContaining('prompt model file /nonexistent/qwen.gguf: not found')]);
    const nsfw = run('serve', '--nsfw-threshold', 'Gore=0.5', '--data-dir', tempDir());
    expect([nsfw.status, nsfw.stderr]).toEqual([1, expect.stringContaining('nsfwClassifier.thresholds key')]);
  });

  it('synth prints the cached model path', () => {
    const r = run('synth', '--arch', 'sdxs');
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe(tinyModel());
  });

  it('exits 2 on usage errors, 3 on a missing model file and 1 on bad values, with a message', () => {
    const usage = run('generate', '-p', 'x');
    expect(usage.status).toBe(2);
    expect(usage.stderr).toContain('generate needs --model');
    const missing = run('generate', '-m', '/nonexistent.safetensors', '-p', 'x');
    expect(missing.status).toBe(3);
    expect(missing.stderr).toBe('diffusekit: model file /nonexistent.safetensors: not found\n');
    const steps = run('generate', '-m', tinyModel(), '-p', 'x', '--steps', '0');
    expect(steps.status).toBe(1);
    expect(steps.stderr).toContain('Expected integer between 1 and 150 for steps but received 0');
  });

  it('--help describes the commands', () => {
    const r = run('--help');
    expect(r.status).toBe(0);
    for (const command of ['generate', 'synth', 'info']) expect(r.stdout).toContain(`diffusekit ${command}`);
  });
});
