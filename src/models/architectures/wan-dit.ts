import { LayoutBuilder } from '../tensor-spec.js';

/**
 * Shape-giving hyper-parameters of the Wan video DiT. The engine reads none of them from the file: it counts
 * `blocks.N` and takes the rest from its table (30 blocks: 1.3B, or 5B when the patch embedding has 48
 * input channels; 40 blocks: 14B), so a layout must match a released size exactly.
 */
export interface WanDitConfig {
  dim: number;
  ffnDim: number;
  blocks: number;
  /** Latent channels in and out (16 for the Wan 2.1 VAE, 48 for the Wan 2.2 VAE). */
  latentChannels: number;
}

/** Wan2.1 T2V 1.3B: 1536 wide, 12 heads of 128, 30 blocks; ~1.42 B parameters. */
export const WAN21_T2V_1_3B: WanDitConfig = { dim: 1536, ffnDim: 8960, blocks: 30, latentChannels: 16 };

/** Wan2.2 TI2V 5B: 3072 wide, 24 heads of 128, 30 blocks over the 48-channel Wan 2.2 latent; ~5.0 B parameters. */
export const WAN22_TI2V_5B: WanDitConfig = { dim: 3072, ffnDim: 14336, blocks: 30, latentChannels: 48 };

const TEXT_DIM = 4096; // umt5-xxl's width
const FREQ_DIM = 256; // sinusoidal timestep embedding
const PATCH = [1, 2, 2]; // frames, height, width

/**
 * The text-to-video Wan DiT in the original (ComfyUI repackaged) names, without a prefix: `patch_embedding`,
 * `text_embedding.{0,2}`, `time_embedding.{0,2}`, `time_projection.1`, `blocks.N.*` and `head.*`. Every block
 * has self- and cross-attention with RMS-normed q/k, an affine `norm3` before cross-attention, a GELU MLP and a
 * learned `modulation` [1, 6, dim] added to the projected timestep; norm1/norm2/head.norm carry no weights.
 */
export function wanDit(b: LayoutBuilder, config: WanDitConfig): void {
  const { dim, ffnDim, latentChannels } = config;
  b.add('patch_embedding.weight', [dim, latentChannels, ...PATCH], 'fan-in');
  b.add('patch_embedding.bias', [dim], 'zeros');
  b.linear('text_embedding.0', TEXT_DIM, dim);
  b.linear('text_embedding.2', dim, dim);
  b.linear('time_embedding.0', FREQ_DIM, dim);
  b.linear('time_embedding.2', dim, dim);
  b.linear('time_projection.1', dim, 6 * dim);

  const attention = (a: LayoutBuilder) => {
    for (const p of ['q', 'k', 'v', 'o']) a.linear(p, dim, dim);
    a.add('norm_q.weight', [dim], 'ones');
    a.add('norm_k.weight', [dim], 'ones');
  };
  for (let i = 0; i < config.blocks; i++) {
    b.scoped(`blocks.${i}`, (blk) => {
      blk.add('modulation', [1, 6, dim], 'embedding');
      blk.scoped('self_attn', attention);
      blk.norm('norm3', dim);
      blk.scoped('cross_attn', attention);
      blk.linear('ffn.0', dim, ffnDim);
      blk.linear('ffn.2', ffnDim, dim);
    });
  }

  b.add('head.modulation', [1, 2, dim], 'embedding');
  b.linear('head.head', dim, latentChannels * PATCH[0] * PATCH[1] * PATCH[2]);
}
