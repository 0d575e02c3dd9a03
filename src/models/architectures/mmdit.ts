import { LayoutBuilder } from '../tensor-spec.js';

/** What SD 3.5 adds to SD3's MMDiT. */
export interface MmditOptions {
  /** Blocks 0..N-1 of the image stream get a second self-attention (MMDiT-X: SD 3.5 medium, 13). */
  selfAttentionBlocks?: number;
  /** RMS norm of queries and keys per head (`attn.ln_q` / `attn.ln_k`): SD 3.5 medium and large. */
  qkNorm?: boolean;
}

/**
 * SD3's MMDiT (`model.diffusion_model.*`): patch embedding of the 16-channel latent, learned positions for a
 * 192x192 patch grid (384x384 with MMDiT-X), timestep and pooled-text embedders, and `depth` joint blocks whose
 * context and image streams attend together; width 64 x depth (SD3 and SD 3.5 medium: 24 blocks, 1536; SD 3.5
 * large: 38 blocks, 2432).
 */
export function mmdit(b: LayoutBuilder, depth = 24, options: MmditOptions = {}): void {
  const { selfAttentionBlocks = 0, qkNorm = false } = options;
  const hidden = 64 * depth;
  const headWidth = 64;
  const latent = 16;
  const patch = 2;
  b.conv('x_embedder.proj', latent, hidden, patch);
  const grid = selfAttentionBlocks > 0 ? 384 : 192;
  b.add('pos_embed', [1, grid * grid, hidden], 'embedding');
  b.linear('t_embedder.mlp.0', 256, hidden);
  b.linear('t_embedder.mlp.2', hidden, hidden);
  b.linear('y_embedder.mlp.0', 2048, hidden);
  b.linear('y_embedder.mlp.2', hidden, hidden);
  b.linear('context_embedder', 4096, hidden);
  for (let i = 0; i < depth; i++) {
    for (const stream of ['context_block', 'x_block']) {
      // the last context block only feeds attention: no output projection, MLP or its modulation
      const preOnly = stream === 'context_block' && i === depth - 1;
      const secondAttention = stream === 'x_block' && i < selfAttentionBlocks;
      b.scoped(`joint_blocks.${i}.${stream}`, (s) => {
        const attention = (name: string, withProjection: boolean) => {
          s.linear(`${name}.qkv`, hidden, 3 * hidden);
          if (withProjection) s.linear(`${name}.proj`, hidden, hidden);
          if (qkNorm) for (const n of ['ln_q', 'ln_k']) s.add(`${name}.${n}.weight`, [headWidth], 'ones');
        };
        attention('attn', !preOnly);
        if (secondAttention) attention('attn2', true);
        s.linear('adaLN_modulation.1', hidden, (preOnly ? 2 : secondAttention ? 9 : 6) * hidden);
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
