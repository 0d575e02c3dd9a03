import { describe, expect, it } from 'vitest';
import { syntheticLayout, type SyntheticArchitecture } from '../src/index.js';
import { elementCount } from '../src/models/tensor-spec.js';

const parameters = (arch: SyntheticArchitecture) => syntheticLayout(arch).reduce((n, t) => n + elementCount(t.shape), 0);
const shapes = (arch: SyntheticArchitecture) => new Map(syntheticLayout(arch).map((t) => [t.name, t.shape]));

// Layouts only: nothing here writes a file or loads the engine.
describe('Wan video layouts', () => {
  it('have the tensor and parameter counts of the released checkpoints', () => {
    expect(syntheticLayout('wan2.1-t2v-1.3b')).toHaveLength(825);
    expect(parameters('wan2.1-t2v-1.3b')).toBe(1_418_996_800);
    expect(parameters('wan2.2-ti2v-5b')).toBe(4_999_787_712);
    expect(syntheticLayout('wan2.1-vae')).toHaveLength(194);
    expect(parameters('wan2.1-vae')).toBe(126_892_531);
    expect(syntheticLayout('wan2.2-vae')).toHaveLength(196);
    expect(parameters('wan2.2-vae')).toBe(704_688_668);
    expect(parameters('umt5-xxl')).toBe(5_680_910_336);
  });

  it('names the DiT as the ComfyUI repackaged files do, with the shapes the engine detects it by', () => {
    const dit = shapes('wan2.1-t2v-1.3b');
    // model.cpp: Wan is recognised by blocks.0.cross_attn.norm_k; 30 blocks and 16 latent channels make it the 1.3B
    expect(dit.get('blocks.0.cross_attn.norm_k.weight')).toEqual([1536]);
    expect(dit.get('patch_embedding.weight')).toEqual([1536, 16, 1, 2, 2]);
    expect(dit.get('blocks.29.ffn.0.weight')).toEqual([8960, 1536]);
    expect(dit.get('blocks.0.modulation')).toEqual([1, 6, 1536]);
    expect(dit.get('text_embedding.0.weight')).toEqual([1536, 4096]);
    expect(dit.get('head.head.weight')).toEqual([64, 1536]);
    expect(dit.has('blocks.30.ffn.0.weight')).toBe(false);
    expect(dit.has('blocks.0.norm1.weight')).toBe(false); // LayerNorm without affine parameters
    // TI2V 5B: 48 x 3072 = 147456 patch-embedding channels, the engine's VERSION_WAN2_2_TI2V signature
    const [out, inCh] = shapes('wan2.2-ti2v-5b').get('patch_embedding.weight')!;
    expect(out * inCh).toBe(147_456);
  });

  it('lays out the VAEs with causal 3D convs and the Wan 2.2 residual groups', () => {
    const vae21 = shapes('wan2.1-vae');
    expect(vae21.get('encoder.conv1.weight')).toEqual([96, 3, 3, 3, 3]);
    expect(vae21.get('encoder.downsamples.5.time_conv.weight')).toEqual([192, 192, 3, 1, 1]);
    expect(vae21.get('decoder.upsamples.3.resample.1.weight')).toEqual([192, 384, 3, 3]);
    expect(vae21.get('decoder.upsamples.4.shortcut.weight')).toEqual([384, 192, 1, 1, 1]);
    expect(vae21.get('decoder.middle.1.norm.gamma')).toEqual([384, 1, 1]);
    expect(vae21.get('decoder.head.2.weight')).toEqual([3, 96, 3, 3, 3]);
    expect(vae21.get('conv2.weight')).toEqual([16, 16, 1, 1, 1]);
    const vae22 = shapes('wan2.2-vae');
    expect(vae22.get('encoder.conv1.weight')).toEqual([160, 12, 3, 3, 3]);
    expect(vae22.get('encoder.downsamples.1.downsamples.2.time_conv.weight')).toEqual([320, 320, 3, 1, 1]);
    expect(vae22.get('decoder.conv1.weight')).toEqual([1024, 48, 3, 3, 3]);
    expect(vae22.get('decoder.upsamples.0.upsamples.3.time_conv.weight')).toEqual([2048, 1024, 3, 1, 1]);
    expect(vae22.get('decoder.head.2.weight')).toEqual([12, 256, 3, 3, 3]);
  });

  it('lays out the tiny video autoencoders and umt5-xxl as the engine builds them', () => {
    const tae = shapes('taew2.1');
    expect(tae.get('encoder.17.weight')).toEqual([16, 64, 3, 3]);
    expect(tae.get('decoder.1.weight')).toEqual([256, 16, 3, 3]);
    expect(tae.get('decoder.13.conv.weight')).toEqual([256, 128, 1, 1]);
    expect(tae.get('decoder.22.weight')).toEqual([3, 64, 3, 3]);
    expect(shapes('taew2.2').get('decoder.22.weight')).toEqual([12, 64, 3, 3]);
    const t5 = shapes('umt5-xxl');
    expect(t5.get('shared.weight')).toEqual([256384, 4096]);
    expect(t5.get('encoder.block.23.layer.0.SelfAttention.relative_attention_bias.weight')).toEqual([32, 64]);
    expect(t5.get('encoder.block.0.layer.1.DenseReluDense.wi_1.weight')).toEqual([10240, 4096]);
    expect(t5.has('encoder.block.0.layer.0.SelfAttention.q.bias')).toBe(false);
  });
});
