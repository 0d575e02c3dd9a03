import { describe, expect, it } from 'vitest';
import { openClipText } from '../src/models/architectures/open-clip.js';
import { openClipToTransformers, type TensorSource } from '../src/models/open-clip-to-transformers.js';
import { LayoutBuilder, elementCount } from '../src/models/tensor-spec.js';

/** A 1-layer OpenCLIP tower of width 4 whose f32 elements count up per tensor (tensor t, element i: t * 1000 + i). */
function tinyTower(): TensorSource[] {
  const b = new LayoutBuilder();
  openClipText(b, 4, 1);
  return b.tensors.map((t, k) => {
    const values = Float32Array.from({ length: elementCount(t.shape) }, (_, i) => k * 1000 + i);
    return { entry: { name: t.name, dtype: 'F32', shape: t.shape, byteLength: values.byteLength }, bytes: () => new Uint8Array(values.buffer) };
  });
}

const floats = (s: TensorSource) => Array.from(new Float32Array(s.bytes().slice().buffer));

describe('OpenCLIP text tower to transformers CLIPTextModelWithProjection (SDXL text_encoder_2)', () => {
  it('renames every tensor, splits the fused attention into q, k, v and transposes the projection; logit_scale is left out', () => {
    const sources = tinyTower();
    const out = new Map(openClipToTransformers(sources).map((s) => [s.entry.name, s]));
    expect([...out.keys()].sort()).toEqual([
      'text_model.embeddings.position_embedding.weight', 'text_model.embeddings.token_embedding.weight',
      ...['k_proj', 'out_proj', 'q_proj', 'v_proj'].flatMap((p) => [`self_attn.${p}.bias`, `self_attn.${p}.weight`]),
      ...['layer_norm1', 'layer_norm2', 'mlp.fc1', 'mlp.fc2'].flatMap((p) => [`${p}.bias`, `${p}.weight`]),
      'text_model.final_layer_norm.bias', 'text_model.final_layer_norm.weight', 'text_projection.weight',
    ].map((n) => (n.startsWith('text_') ? n : `text_model.encoder.layers.0.${n}`)).sort());

    const source = (name: string) => floats(sources.find((s) => s.entry.name === name)!);
    const fused = source('transformer.resblocks.0.attn.in_proj_weight'); // [12, 4]: q rows, then k, then v
    const q = out.get('text_model.encoder.layers.0.self_attn.q_proj.weight')!;
    const v = out.get('text_model.encoder.layers.0.self_attn.v_proj.weight')!;
    expect([q.entry.shape, q.entry.byteLength]).toEqual([[4, 4], 64]);
    expect(floats(q)).toEqual(fused.slice(0, 16));
    expect(floats(v)).toEqual(fused.slice(32, 48));
    expect(floats(out.get('text_model.encoder.layers.0.self_attn.k_proj.bias')!)).toEqual(source('transformer.resblocks.0.attn.in_proj_bias').slice(4, 8));

    // x @ P in OpenCLIP is the Linear weight P^T: element [i][j] of the weight is P[j][i]
    const p = source('text_projection');
    const weight = floats(out.get('text_projection.weight')!);
    for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) expect(weight[i * 4 + j]).toBe(p[j * 4 + i]);
    expect(floats(out.get('text_model.encoder.layers.0.mlp.fc2.weight')!)).toEqual(source('transformer.resblocks.0.mlp.c_proj.weight'));
  });
});
