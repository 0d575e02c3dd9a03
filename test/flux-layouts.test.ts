import { describe, expect, it } from 'vitest';
import { syntheticLayout, type SyntheticArchitecture } from '../src/index.js';
import { elementCount } from '../src/models/tensor-spec.js';

const parameters = (arch: SyntheticArchitecture) => syntheticLayout(arch).reduce((n, t) => n + elementCount(t.shape), 0);
const shapes = (arch: SyntheticArchitecture) => new Map(syntheticLayout(arch).map((t) => [t.name, t.shape]));

// Layouts only: nothing here writes a file or loads the engine. The counts are the released files' (flux1-dev
// 11.9 B, Chroma 8.9 B, the T5 v1.1 XXL encoder 4.76 B, ae.safetensors 83.8 M parameters).
describe('FLUX.1 and Chroma layouts', () => {
  it('have the tensor and parameter counts of the released checkpoints', () => {
    expect([syntheticLayout('flux-dev').length, parameters('flux-dev')]).toEqual([780, 11_901_408_320]);
    expect([syntheticLayout('flux-schnell').length, parameters('flux-schnell')]).toEqual([776, 11_891_178_560]);
    expect(parameters('flux-fill')).toBe(11_902_391_360);
    expect([syntheticLayout('chroma').length, parameters('chroma')]).toEqual([643, 8_899_983_424]);
    expect([syntheticLayout('t5xxl').length, parameters('t5xxl')]).toEqual([219, 4_762_310_656]);
    expect([syntheticLayout('flux-vae').length, parameters('flux-vae')]).toEqual([244, 83_819_683]);
  });

  it('names the DiT as Black Forest Labs does, with the shapes the engine reads its sizes from', () => {
    const dev = shapes('flux-dev');
    expect(dev.get('img_in.weight')).toEqual([3072, 64]);
    expect(dev.get('txt_in.weight')).toEqual([3072, 4096]);
    expect(dev.get('guidance_in.in_layer.weight')).toEqual([3072, 256]);
    expect(dev.get('vector_in.in_layer.weight')).toEqual([3072, 768]);
    expect(dev.get('double_blocks.18.img_mod.lin.weight')).toEqual([18432, 3072]);
    expect(dev.get('double_blocks.0.txt_attn.norm.key_norm.scale')).toEqual([128]);
    expect(dev.get('single_blocks.37.linear1.weight')).toEqual([21504, 3072]);
    expect(dev.get('single_blocks.37.linear2.weight')).toEqual([3072, 15360]);
    expect(dev.get('final_layer.adaLN_modulation.1.weight')).toEqual([6144, 3072]);
    expect(dev.has('double_blocks.19.img_attn.qkv.weight') || dev.has('single_blocks.38.linear1.weight')).toBe(false);
    expect([...shapes('flux-schnell').keys()].some((n) => n.startsWith('guidance_in.'))).toBe(false);
    expect(shapes('flux-fill').get('img_in.weight')).toEqual([3072, 384]);
  });

  it('gives Chroma its approximator and none of the modulation it replaces', () => {
    const chroma = shapes('chroma');
    expect(chroma.get('distilled_guidance_layer.in_proj.weight')).toEqual([5120, 64]);
    expect(chroma.get('distilled_guidance_layer.norms.4.scale')).toEqual([5120]);
    expect(chroma.get('distilled_guidance_layer.out_proj.weight')).toEqual([3072, 5120]);
    expect([...chroma.keys()].filter((n) => /_mod\.|modulation|time_in|vector_in|guidance_in/.test(n))).toEqual([]);
  });

  it('puts T5\'s relative position bias in block 0 only, umT5\'s in every block', () => {
    const t5 = [...shapes('t5xxl')].filter(([n]) => n.includes('relative_attention_bias'));
    expect(t5).toEqual([['encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight', [32, 64]]]);
    expect(shapes('t5xxl').get('shared.weight')).toEqual([32128, 4096]);
    expect([...shapes('umt5-xxl').keys()].filter((n) => n.includes('relative_attention_bias'))).toHaveLength(24);
  });

  it('lays out the FLUX.1 autoencoder without a prefix or quant convs, 16 latent channels', () => {
    const ae = shapes('flux-vae');
    expect(ae.get('decoder.conv_in.weight')).toEqual([512, 16, 3, 3]);
    expect(ae.get('encoder.conv_out.weight')).toEqual([32, 512, 3, 3]);
    expect([...ae.keys()].filter((n) => !/^(encoder|decoder)\./.test(n))).toEqual([]);
  });
});
