import { LayoutBuilder } from '../tensor-spec.js';

/** What tells the FLUX.1 checkpoints apart in their tensors; the engine reads every size from the file. */
export interface FluxDitOptions {
  /** FLUX.1 dev and Kontext embed the distilled guidance (`guidance_in`); schnell has none. */
  guidance: boolean;
  /**
   * Input channels of `img_in`: 64 (16 latent channels in 2x2 patches); FLUX.1 Fill 384 (latent, masked
   * image and the 8x8 pixel-unshuffled mask, each patchified).
   */
  inChannels?: number;
  /**
   * Chroma: no per-block modulation (img_mod, txt_mod, modulation, final adaLN) and no time, vector or guidance
   * embedders; one `distilled_guidance_layer` computes every block's modulation instead.
   */
  chroma?: boolean;
}

const HIDDEN = 3072; // 24 heads of 128
const HEAD = 128;
const MLP = 4 * HIDDEN;
const DOUBLE_BLOCKS = 19;
const SINGLE_BLOCKS = 38;
const CONTEXT = 4096; // T5-XXL's width
const POOLED = 768; // CLIP-L's pooled output
const TIMESTEP = 256; // sinusoidal embedding of timestep and guidance
const LATENT_PATCH = 64; // 16 channels x 2 x 2

/**
 * The FLUX.1 DiT in Black Forest Labs' names, without a prefix (flux1-dev.safetensors, and city96's GGUF
 * conversions): `img_in`, `txt_in`, `time_in` / `vector_in` / `guidance_in` MLP embedders, 19 `double_blocks.N`
 * (image and text streams with their own modulation, QKV with bias, RMS-normed queries and keys, GELU MLP) and
 * 38 `single_blocks.N` (one fused linear1 for QKV and MLP, linear2 back), `final_layer`. LayerNorms carry no
 * weights. FLUX.1 dev: ~11.9 B parameters; Chroma drops the modulation layers for its approximator: ~8.9 B.
 */
export function fluxDit(b: LayoutBuilder, options: FluxDitOptions): void {
  const { guidance, inChannels = LATENT_PATCH, chroma = false } = options;
  const mlpEmbedder = (name: string, inDim: number, dim: number) => {
    b.linear(`${name}.in_layer`, inDim, dim);
    b.linear(`${name}.out_layer`, dim, dim);
  };
  const qkNorm = (s: LayoutBuilder, name: string) => {
    s.add(`${name}.query_norm.scale`, [HEAD], 'ones');
    s.add(`${name}.key_norm.scale`, [HEAD], 'ones');
  };

  b.linear('img_in', inChannels, HIDDEN);
  if (chroma) {
    chromaApproximator(b);
  } else {
    mlpEmbedder('time_in', TIMESTEP, HIDDEN);
    mlpEmbedder('vector_in', POOLED, HIDDEN);
    if (guidance) mlpEmbedder('guidance_in', TIMESTEP, HIDDEN);
  }
  b.linear('txt_in', CONTEXT, HIDDEN);

  for (let i = 0; i < DOUBLE_BLOCKS; i++) {
    b.scoped(`double_blocks.${i}`, (s) => {
      for (const stream of ['img', 'txt']) {
        if (!chroma) s.linear(`${stream}_mod.lin`, HIDDEN, 6 * HIDDEN);
        s.linear(`${stream}_attn.qkv`, HIDDEN, 3 * HIDDEN);
        qkNorm(s, `${stream}_attn.norm`);
        s.linear(`${stream}_attn.proj`, HIDDEN, HIDDEN);
        s.linear(`${stream}_mlp.0`, HIDDEN, MLP);
        s.linear(`${stream}_mlp.2`, MLP, HIDDEN);
      }
    });
  }
  for (let i = 0; i < SINGLE_BLOCKS; i++) {
    b.scoped(`single_blocks.${i}`, (s) => {
      s.linear('linear1', HIDDEN, 3 * HIDDEN + MLP);
      s.linear('linear2', HIDDEN + MLP, HIDDEN);
      qkNorm(s, 'norm');
      if (!chroma) s.linear('modulation.lin', HIDDEN, 3 * HIDDEN);
    });
  }
  b.linear('final_layer.linear', HIDDEN, LATENT_PATCH);
  if (!chroma) b.linear('final_layer.adaLN_modulation.1', HIDDEN, 2 * HIDDEN);
}

/**
 * Chroma's `distilled_guidance_layer`: from a 64-wide embedding of timestep, guidance and position, five
 * RMS-normed residual MLPs 5120 wide give the modulation vectors of all blocks (the engine's ChromaApproximator).
 */
function chromaApproximator(b: LayoutBuilder): void {
  const inner = 5120;
  b.scoped('distilled_guidance_layer', (s) => {
    s.linear('in_proj', 64, inner);
    for (let i = 0; i < 5; i++) {
      s.add(`norms.${i}.scale`, [inner], 'ones');
      s.linear(`layers.${i}.in_layer`, inner, inner);
      s.linear(`layers.${i}.out_layer`, inner, inner);
    }
    s.linear('out_proj', inner, HIDDEN);
  });
}
