import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { inspectModelFile, ModelFileError, Pipeline, synthesizeModel } from '../src/index.js';
import { writeStoredZip } from '../src/models/torch-checkpoint.js';
import { sd1Model, tempDir, tinyModel } from './helpers/models.js';

const dir = tempDir();

/** A zip checkpoint whose data.pkl is `pickle`. */
function zipCheckpoint(name: string, pickle: Buffer): string {
  const file = path.join(dir, name);
  writeStoredZip(file, [['archive/data.pkl', () => pickle], ['archive/version', () => Buffer.from('3\n')]]);
  return file;
}

describe('.ckpt checkpoints', () => {
  it('a PyTorch zip checkpoint loads and gives the same pixels as the same weights in .safetensors', async () => {
    const ckpt = path.join(dir, 'sdxs.ckpt');
    synthesizeModel({ architecture: 'sdxs', output: ckpt });
    expect((await inspectModelFile(ckpt)).format).toBe('ckpt');
    const o = { prompt: 'a cabin', width: 64, height: 64, steps: 1, seed: 3 };
    const fromCkpt = await Pipeline.load({ model: ckpt });
    const [a] = await fromCkpt.generate(o);
    await fromCkpt.dispose();
    const fromSafetensors = await Pipeline.load({ model: tinyModel() });
    const [b] = await fromSafetensors.generate(o);
    await fromSafetensors.dispose();
    expect(a.data.equals(b.data)).toBe(true);
    fs.rmSync(ckpt);
  });

  it.each([
    ['GLOBAL os.system', Buffer.from("\x80\x02cos\nsystem\nq\x00X\x0b\x00\x00\x00echo pwnedq\x01\x85R.", 'latin1'), 'it imports os.system'],
    ['STACK_GLOBAL builtins.eval', Buffer.from('\x80\x04\x8c\x08builtins\x8c\x04eval\x93\x8c\x011\x85R.', 'latin1'), 'it imports builtins.eval'],
    ['INST subprocess.Popen', Buffer.from("(S'ls'\nisubprocess\nPopen\n.", 'latin1'), 'it imports subprocess.Popen'],
    ['an extension-registry global', Buffer.from('\x80\x02\x82\x01)R.', 'latin1'), 'extension registry'],
    ['a truncated pickle', Buffer.from('\x80\x02}(X\x05\x00\x00', 'latin1'), 'truncated pickle'],
  ])('refuses a pickle with %s', async (_, pickle, reason) => {
    const file = zipCheckpoint(`evil-${reason.length}.ckpt`, pickle);
    const error = await inspectModelFile(file).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelFileError);
    expect((error as Error).message).toContain('refused: its pickle is unsafe or unreadable (');
    expect((error as Error).message).toContain(reason);
    await expect(Pipeline.load({ model: file })).rejects.toBeInstanceOf(ModelFileError);
  });

  it('refuses a legacy (non-zip) checkpoint whose pickle imports code', async () => {
    const file = path.join(dir, 'legacy.ckpt');
    fs.writeFileSync(file, Buffer.from("\x80\x02cposix\nsystem\nX\x02\x00\x00\x00idq\x01\x85R.", 'latin1'));
    await expect(inspectModelFile(file)).rejects.toThrow('it imports posix.system');
  });

  it('accepts the globals a checkpoint needs, and refuses a zip without data.pkl', async () => {
    const safe = zipCheckpoint('safe.ckpt', Buffer.from('\x80\x02ccollections\nOrderedDict\n)R}(X\x01\x00\x00\x00actorch._utils\n_rebuild_tensor_v2\nu.', 'latin1'));
    expect((await inspectModelFile(safe)).format).toBe('ckpt');
    const file = path.join(dir, 'nopkl.ckpt');
    writeStoredZip(file, [['archive/version', () => Buffer.from('3\n')]]);
    await expect(inspectModelFile(file)).rejects.toThrow('the archive has no data.pkl: not a PyTorch checkpoint');
  });
});

describe('diffusers folders', () => {
  it('load as a model and give the same result as the single-file checkpoint of the same weights', async () => {
    const folder = synthesizeModel({ architecture: 'sd1', format: 'diffusers' }).path;
    for (const part of ['unet/config.json', 'vae/config.json', 'text_encoder/config.json', 'model_index.json']) {
      expect(fs.existsSync(path.join(folder, part))).toBe(true);
    }
    const info = await inspectModelFile(folder);
    expect(info.format).toBe('diffusers');
    expect(info.tensorNames).toContain('unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight');
    expect(info.tensorNames).toContain('vae.decoder.up_blocks.0.resnets.0.conv1.weight');
    const o = { prompt: 'a cabin', width: 64, height: 64, steps: 1, seed: 3 };
    // f32 products: this compares two layouts of the same weights, not the bf16 kernels (test/cpu-kernels.test.ts),
    // whose rounding makes the VAE's two projection forms below differ by up to 2/255 instead of 1.
    const fromFolder = await Pipeline.load({ model: folder, cpuPrecision: 'f32' });
    expect(fromFolder.model.family).toBe('sd1');
    expect(fromFolder.info.engineVersion).toBe('SD 1.x');
    const [a] = await fromFolder.generate(o);
    await fromFolder.dispose();
    const single = await Pipeline.load({ model: sd1Model(), cpuPrecision: 'f32' });
    const [b] = await single.generate(o);
    await single.dispose();
    // The same UNet and text encoder weights: the same latent, bit for bit.
    expect(Buffer.from(a.latent!.data.buffer).equals(Buffer.from(b.latent!.data.buffer))).toBe(true);
    // The diffusers VAE keeps its attention projections as linear layers where the single file has 1x1
    // convolutions; the fast CPU kernels sum the two in different orders, so a pixel may round the other way.
    let max = 0;
    for (let i = 0; i < a.data.length; i++) max = Math.max(max, Math.abs(a.data[i] - b.data[i]));
    expect(max).toBeLessThanOrEqual(1);
  });

  it('refuse a folder that is not a diffusers model', async () => {
    const empty = tempDir();
    await expect(Pipeline.load({ model: empty })).rejects.toThrow('is a folder but not a diffusers model (no unet/diffusion_pytorch_model.safetensors)');
    expect(() => synthesizeModel({ architecture: 'sdxs', format: 'diffusers', output: path.join(empty, 'x') })).toThrow(
      'The diffusers format is written for sd1, sd1-inpaint, sdxl, not sdxs',
    );
  });
});
