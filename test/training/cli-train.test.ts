import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/models.js';
import { sd1Diffusers, TEST_VENV, trainerInstalled } from './helpers.js';

describe('diffusekit train / trainer', () => {
  it('documents its options and refuses incomplete command lines (exit 2)', () => {
    const help = runCli(['train', '--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('diffusekit train --base MODEL --images DIR --prompt "photo of sks dog"');
    expect(runCli(['--help']).stdout).toContain('train a LoRA from images');
    const noBase = runCli(['train', '--images', 'x']);
    expect([noBase.status, noBase.stderr]).toEqual([2, expect.stringContaining('train needs --base MODEL')]);
    const badOutput = runCli(['train', '--base', 'x', '--images', 'x', '-o', 'lora.ckpt']);
    expect([badOutput.status, badOutput.stderr]).toEqual([2, expect.stringContaining("--output must end in .safetensors, got 'lora.ckpt'")]);
    expect(runCli(['trainer', 'frobnicate']).status).toBe(2);
  });

  it('says how to install a missing trainer, and refuses a base that is not a diffusers folder (exit 3)', () => {
    const missing = path.join(tempDir(), 'no-venv');
    const status = runCli(['trainer', 'status', '--venv', missing, '--json']);
    expect(status.status).toBe(1);
    expect(JSON.parse(status.stdout)).toMatchObject({ installed: false, venv: missing });
    const images = tempDir();
    const train = runCli(['train', '--base', sd1Diffusers(), '--images', images, '-p', 'x', '--venv', missing, '-o', path.join(tempDir(), 'a.safetensors')]);
    expect([train.status, train.stderr]).toEqual([1, expect.stringContaining('run `diffusekit trainer setup`')]);
    const notDiffusers = runCli(['train', '--base', images, '--images', images, '-p', 'x', '--venv', missing]);
    expect([notDiffusers.status, notDiffusers.stderr]).toEqual([3, expect.stringContaining('is not a diffusers folder')]);
  });

  it.skipIf(!trainerInstalled)('refuses an empty image folder before training (exit 3), leaving no output file', () => {
    const out = path.join(tempDir(), 'a.safetensors');
    const run = runCli(['train', '--base', sd1Diffusers(), '--images', tempDir(), '-p', 'photo of sks dog', '--venv', TEST_VENV, '-o', out]);
    expect([run.status, run.stderr]).toEqual([3, 'diffusekit: The dataset has no images (png, jpeg, webp, bmp or tiff)\n']);
    expect(fs.existsSync(out)).toBe(false);
  });
});
