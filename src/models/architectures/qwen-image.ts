import { LayoutBuilder } from '../tensor-spec.js';

/**
 * Qwen-Image's MMDiT in its diffusers names as ComfyUI ships them (`qwen_image_fp8_e4m3fn.safetensors`,
 * `qwen_image_edit_*.safetensors`, no prefix): 60 `transformer_blocks` of 3072 (24 heads of 128) with separate
 * image and text streams (`img_mod` / `txt_mod` 6-way modulation, GELU MLPs of 12288, q/k/v per stream with
 * RMS-normed queries and keys), text from Qwen2.5-VL's 3584-wide hidden states, 2x2 patches of the 16-channel
 * latent (64 in, 64 out); ~20.4 B parameters. Qwen-Image-Edit has the same layout: only names tell it apart.
 */
export function qwenImageDit(b: LayoutBuilder): void {
  const dim = 3072;
  const headDim = 128;
  const textWidth = 3584;
  const patchChannels = 64; // 2x2 patches of 16 latent channels
  b.linear('time_text_embed.timestep_embedder.linear_1', 256, dim);
  b.linear('time_text_embed.timestep_embedder.linear_2', dim, dim);
  b.add('txt_norm.weight', [textWidth], 'ones');
  b.linear('img_in', patchChannels, dim);
  b.linear('txt_in', textWidth, dim);
  for (let i = 0; i < 60; i++) {
    b.scoped(`transformer_blocks.${i}`, (l) => {
      for (const stream of ['img', 'txt']) {
        l.linear(`${stream}_mod.1`, dim, 6 * dim);
        l.linear(`${stream}_mlp.net.0.proj`, dim, 4 * dim);
        l.linear(`${stream}_mlp.net.2`, 4 * dim, dim);
      }
      for (const p of ['to_q', 'to_k', 'to_v', 'add_q_proj', 'add_k_proj', 'add_v_proj']) l.linear(`attn.${p}`, dim, dim);
      for (const n of ['norm_q', 'norm_k', 'norm_added_q', 'norm_added_k']) l.add(`attn.${n}.weight`, [headDim], 'ones');
      l.linear('attn.to_out.0', dim, dim);
      l.linear('attn.to_add_out', dim, dim);
    });
  }
  b.linear('norm_out.linear', dim, 2 * dim);
  b.linear('proj_out', dim, patchChannels);
}
