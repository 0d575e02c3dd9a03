import { LayoutBuilder } from '../tensor-spec.js';

/**
 * The T5 v1.1 XXL encoder of SD3 and FLUX.1 (transformers T5EncoderModel names, as ComfyUI's
 * `t5xxl_fp16.safetensors` has them): `shared` (32128-token vocabulary), 24 `encoder.block.N` of bias-free
 * self-attention (64 heads of 64) and a gated-GELU MLP (10240), RMS norms. Unlike umT5, only block 0 holds the
 * relative position bias, which every block reuses. ~4.76 B parameters (9.5 GB in f16, 2.7 GB in q4_0).
 *
 * The engine hardcodes these sizes (t5.hpp T5Params): a smaller encoder would not load.
 */
export function t5XxlEncoder(b: LayoutBuilder): void {
  t5Encoder(b, { vocabulary: 32128, positionBiasInEveryBlock: false });
}

/** The two T5-XXL encoders the engine reads: T5 v1.1 (SD3, FLUX.1, Chroma) and umT5 (Wan). */
export interface T5EncoderOptions {
  vocabulary: number;
  /** umT5 learns a relative position bias per block; T5 v1.1 only in block 0. */
  positionBiasInEveryBlock: boolean;
}

/** A T5-XXL encoder stack: 24 blocks 4096 wide, 64 heads of 64, gated-GELU MLP 10240, RMS norms, no biases. */
export function t5Encoder(b: LayoutBuilder, options: T5EncoderOptions): void {
  const width = 4096;
  const ffn = 10240;
  const heads = 64;
  const relativeBuckets = 32;
  b.embedding('shared', options.vocabulary, width);
  for (let i = 0; i < 24; i++) {
    b.scoped(`encoder.block.${i}.layer.0`, (l) => {
      for (const p of ['q', 'k', 'v', 'o']) l.linear(`SelfAttention.${p}`, width, width, false);
      if (i === 0 || options.positionBiasInEveryBlock) l.embedding('SelfAttention.relative_attention_bias', relativeBuckets, heads);
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
