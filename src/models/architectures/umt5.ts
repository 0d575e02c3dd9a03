import { LayoutBuilder } from '../tensor-spec.js';

/**
 * The umt5-xxl encoder, Wan's text encoder (transformers T5EncoderModel names, as ComfyUI's
 * `umt5_xxl_fp16.safetensors` has them): `shared` (256384-token vocabulary), 24 `encoder.block.N` of
 * bias-free self-attention (64 heads of 64) and a gated-GELU MLP (10240), RMS norms, and, unlike T5, a
 * relative position bias in every block. ~5.68 B parameters (11.4 GB in f16).
 *
 * There is no smaller variant to write: the engine hardcodes these sizes (t5.hpp T5Params, vocabulary
 * 256384 for umt5) and refuses a file with fewer blocks ("tensor ... not in model file") or another width
 * ("wrong shape").
 */
export function umt5XxlEncoder(b: LayoutBuilder): void {
  const width = 4096;
  const ffn = 10240;
  const heads = 64;
  const relativeBuckets = 32;
  b.embedding('shared', 256384, width);
  for (let i = 0; i < 24; i++) {
    b.scoped(`encoder.block.${i}.layer.0`, (l) => {
      for (const p of ['q', 'k', 'v', 'o']) l.linear(`SelfAttention.${p}`, width, width, false);
      l.embedding('SelfAttention.relative_attention_bias', relativeBuckets, heads);
      l.add('layer_norm.weight', [width], 'ones');
    });
    b.scoped(`encoder.block.${i}.layer.1`, (l) => {
      l.linear('DenseReluDense.wi_0', width, ffn, false);
      l.linear('DenseReluDense.wi_1', width, ffn, false);
      l.linear('DenseReluDense.wo', ffn, width, false);
      l.add('layer_norm.weight', [width], 'ones');
    });
  }
  b.add('encoder.final_layer_norm.weight', [width], 'ones');
}
