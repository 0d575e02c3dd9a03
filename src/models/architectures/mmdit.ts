import { LayoutBuilder } from '../tensor-spec.js';

/**
 * SD3's MMDiT (`model.diffusion_model.*`): patch embedding of the 16-channel latent, learned positions for a
 * 192x192 patch grid, timestep and pooled-text embedders, and `depth` joint blocks whose context and image
 * streams attend together; width 64 x depth (SD3 medium: 24 blocks, 1536).
 */
export function mmdit(b: LayoutBuilder, depth = 24): void {
  const hidden = 64 * depth;
  const latent = 16;
  const patch = 2;
  b.conv('x_embedder.proj', latent, hidden, patch);
  b.add('pos_embed', [1, 192 * 192, hidden], 'embedding');
  b.linear('t_embedder.mlp.0', 256, hidden);
  b.linear('t_embedder.mlp.2', hidden, hidden);
  b.linear('y_embedder.mlp.0', 2048, hidden);
  b.linear('y_embedder.mlp.2', hidden, hidden);
  b.linear('context_embedder', 4096, hidden);
  for (let i = 0; i < depth; i++) {
    for (const stream of ['context_block', 'x_block']) {
      // the last context block only feeds attention: no output projection, MLP or its modulation
      const preOnly = stream === 'context_block' && i === depth - 1;
      b.scoped(`joint_blocks.${i}.${stream}`, (s) => {
        s.linear('attn.qkv', hidden, 3 * hidden);
        if (!preOnly) s.linear('attn.proj', hidden, hidden);
        s.linear('adaLN_modulation.1', hidden, (preOnly ? 2 : 6) * hidden);
        if (!preOnly) {
          s.linear('mlp.fc1', hidden, 4 * hidden);
          s.linear('mlp.fc2', 4 * hidden, hidden);
        }
      });
    }
  }
  b.linear('final_layer.linear', hidden, patch * patch * latent);
  b.linear('final_layer.adaLN_modulation.1', hidden, 2 * hidden);
}
