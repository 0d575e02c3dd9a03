import { LayoutBuilder } from '../tensor-spec.js';

/**
 * Z-Image's single-stream DiT (Lumina-2 style NextDiT) in ComfyUI's names (`z_image_turbo_bf16.safetensors`, no
 * prefix): a patch embedder of 2x2 patches of the 16-channel FLUX.1 latent, a caption embedder from Qwen3-4B's
 * 2560-wide hidden states, two noise-refiner and two (unmodulated) context-refiner blocks, then 30 joint blocks of
 * 3840 (30 heads of 128, fused qkv, RMS-normed queries and keys, SwiGLU FFN of 10240), modulated from a 256-wide
 * timestep embedding; ~6.15 B parameters. The engine hardcodes all of these sizes (z_image.hpp ZImageParams).
 */
export function zImageDit(b: LayoutBuilder): void {
  const hidden = 3840;
  const heads = 30;
  const headDim = 128;
  const ffn = 10240; // 8/3 x 3840, rounded up to a multiple of 256
  const adaln = 256;
  const latent = 16;
  const patch = 2;
  const captionWidth = 2560;
  const block = (name: string, modulated: boolean) =>
    b.scoped(name, (l) => {
      l.linear('attention.qkv', hidden, 3 * heads * headDim, false);
      l.linear('attention.out', heads * headDim, hidden, false);
      for (const n of ['q_norm', 'k_norm']) l.add(`attention.${n}.weight`, [headDim], 'ones');
      l.linear('feed_forward.w1', hidden, ffn, false);
      l.linear('feed_forward.w2', ffn, hidden, false);
      l.linear('feed_forward.w3', hidden, ffn, false);
      for (const n of ['attention_norm1', 'ffn_norm1', 'attention_norm2', 'ffn_norm2']) l.add(`${n}.weight`, [hidden], 'ones');
      if (modulated) l.linear('adaLN_modulation.0', adaln, 4 * hidden);
    });
  b.linear('x_embedder', patch * patch * latent, hidden);
  b.linear('t_embedder.mlp.0', 256, 1024);
  b.linear('t_embedder.mlp.2', 1024, adaln);
  b.add('cap_embedder.0.weight', [captionWidth], 'ones');
  b.linear('cap_embedder.1', captionWidth, hidden);
  // learned padding tokens for captions and images padded to multiples of 32 tokens
  b.add('x_pad_token', [1, hidden], 'embedding');
  b.add('cap_pad_token', [1, hidden], 'embedding');
  for (let i = 0; i < 2; i++) block(`noise_refiner.${i}`, true);
  for (let i = 0; i < 2; i++) block(`context_refiner.${i}`, false);
  for (let i = 0; i < 30; i++) block(`layers.${i}`, true);
  b.linear('final_layer.linear', hidden, patch * patch * latent);
  b.linear('final_layer.adaLN_modulation.1', adaln, hidden);
}
