import { LayoutBuilder } from '../tensor-spec.js';

/**
 * A decoder LLM used as a text encoder, in llama.cpp's GGUF names (`token_embd`, `blk.N.attn_q`...,
 * `output_norm`), as the quantized releases the engine's docs point to ship it (unsloth Qwen3-4B-Instruct-2507-GGUF,
 * mradermacher Qwen2.5-VL-7B-Instruct-GGUF). The engine renames these to `model.layers.N.self_attn.q_proj`...
 * and reads the depth, width, FFN width and vocabulary from the file; heads come from its own table per arch.
 */
export interface LlmConfig {
  layers: number;
  hidden: number;
  ffn: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  vocabulary: number;
  /** Biases on the q/k/v projections (Qwen2.5). */
  qkvBias: boolean;
  /** RMS norms of queries and keys per head (Qwen3). */
  qkNorm: boolean;
  /** An untied output head (`output.weight`), which the engine skips: only the hidden states condition. */
  outputHead: boolean;
}

/** Qwen3-4B (Z-Image's and FLUX.2 klein 4B's encoder): 36 layers of 2560, 32 heads / 8 KV heads of 128; ~4.02 B parameters. */
export const QWEN3_4B: LlmConfig = { layers: 36, hidden: 2560, ffn: 9728, heads: 32, kvHeads: 8, headDim: 128, vocabulary: 151936, qkvBias: false, qkNorm: true, outputHead: false };

/** Qwen2.5-VL-7B's language model (Qwen-Image's encoder): 28 layers of 3584, 28 heads / 4 KV heads of 128; ~7.6 B parameters. */
export const QWEN25_VL_7B: LlmConfig = { layers: 28, hidden: 3584, ffn: 18944, heads: 28, kvHeads: 4, headDim: 128, vocabulary: 152064, qkvBias: true, qkNorm: false, outputHead: true };

/** Mistral Small 3.2 24B (FLUX.2 dev's encoder): 40 layers of 5120, 32 heads / 8 KV heads of 128; ~23.6 B parameters. */
export const MISTRAL_SMALL_32_24B: LlmConfig = { layers: 40, hidden: 5120, ffn: 32768, heads: 32, kvHeads: 8, headDim: 128, vocabulary: 131072, qkvBias: false, qkNorm: false, outputHead: true };

export function llmTextModel(b: LayoutBuilder, c: LlmConfig): void {
  b.embedding('token_embd', c.vocabulary, c.hidden);
  for (let i = 0; i < c.layers; i++) {
    b.scoped(`blk.${i}`, (l) => {
      l.add('attn_norm.weight', [c.hidden], 'ones');
      l.linear('attn_q', c.hidden, c.heads * c.headDim, c.qkvBias);
      l.linear('attn_k', c.hidden, c.kvHeads * c.headDim, c.qkvBias);
      l.linear('attn_v', c.hidden, c.kvHeads * c.headDim, c.qkvBias);
      l.linear('attn_output', c.heads * c.headDim, c.hidden, false);
      if (c.qkNorm) for (const n of ['attn_q_norm', 'attn_k_norm']) l.add(`${n}.weight`, [c.headDim], 'ones');
      l.add('ffn_norm.weight', [c.hidden], 'ones');
      l.linear('ffn_gate', c.hidden, c.ffn, false);
      l.linear('ffn_up', c.hidden, c.ffn, false);
      l.linear('ffn_down', c.ffn, c.hidden, false);
    });
  }
  b.add('output_norm.weight', [c.hidden], 'ones');
  if (c.outputHead) b.linear('output', c.hidden, c.vocabulary, false);
}

/**
 * Qwen2.5-VL-7B's vision tower as llama.cpp's multimodal projector file (`*.mmproj-*.gguf`: `v.patch_embd`,
 * `v.blk.N`, `v.post_ln`, `mm.0` / `mm.2`), the engine's `--llm_vision` for Qwen-Image-Edit: 32 blocks of 1280
 * (16 heads), the 3-D patch embedding split in two 2-D convolutions over the two frames, a 2x2 patch merger into
 * the LLM's 3584; ~0.67 B parameters.
 */
export function qwen25VlVisionProjector(b: LayoutBuilder): void {
  const hidden = 1280;
  const ffn = 3420;
  const patch = 14;
  const merged = hidden * 4; // 2x2 spatial merge
  b.add('v.patch_embd.weight', [hidden, 3, patch, patch], 'fan-in');
  b.add('v.patch_embd.weight.1', [hidden, 3, patch, patch], 'fan-in');
  for (let i = 0; i < 32; i++) {
    b.scoped(`v.blk.${i}`, (l) => {
      l.add('ln1.weight', [hidden], 'ones');
      for (const p of ['attn_q', 'attn_k', 'attn_v', 'attn_out']) l.linear(p, hidden, hidden);
      l.add('ln2.weight', [hidden], 'ones');
      l.linear('ffn_gate', hidden, ffn);
      l.linear('ffn_up', hidden, ffn);
      l.linear('ffn_down', ffn, hidden);
    });
  }
  b.add('v.post_ln.weight', [hidden], 'ones');
  b.linear('mm.0', merged, merged);
  b.linear('mm.2', merged, 3584);
}
