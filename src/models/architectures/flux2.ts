import { LayoutBuilder } from '../tensor-spec.js';
import { autoencoderKL } from './autoencoder.js';

/**
 * Shape-giving sizes of a FLUX.2 DiT. The engine reads depth (double and single blocks), width and text width
 * from the file; heads follow from the RMS-norm width (128).
 */
export interface Flux2Config {
  hidden: number;
  doubleBlocks: number;
  singleBlocks: number;
  /** Three stacked hidden-state layers of the text encoder: 3 x 2560 for Qwen3-4B, 3 x 5120 for Mistral Small 3.2. */
  textWidth: number;
  /** A distilled-guidance embedder (`guidance_in`): FLUX.2 dev; klein is step-distilled without one. */
  guidanceEmbedder: boolean;
}

/** FLUX.2 klein 4B: 5 double and 20 single blocks of 3072 over Qwen3-4B; ~3.9 B parameters. */
export const FLUX2_KLEIN_4B: Flux2Config = { hidden: 3072, doubleBlocks: 5, singleBlocks: 20, textWidth: 3 * 2560, guidanceEmbedder: false };

/** FLUX.2 dev: 8 double and 48 single blocks of 6144 over Mistral Small 3.2 24B; ~32 B parameters. */
export const FLUX2_DEV: Flux2Config = { hidden: 6144, doubleBlocks: 8, singleBlocks: 48, textWidth: 3 * 5120, guidanceEmbedder: true };

/**
 * The FLUX.2 DiT in Black Forest Labs' original names (`flux-2-klein-4b.safetensors`, `flux2-dev.safetensors`, no
 * prefix): bias-free linears, one modulation shared by all double blocks per stream and one by all single blocks
 * (`double_stream_modulation_img` ...: the engine's FLUX.2 marker), SwiGLU MLPs of 3x width, 128 latent channels
 * in and out (the 32-channel VAE latent in 2x2 patches).
 */
export function flux2Dit(b: LayoutBuilder, c: Flux2Config): void {
  const h = c.hidden;
  const mlp = 3 * h;
  const headDim = 128;
  const channels = 128;
  const qkNorm = (l: LayoutBuilder, name: string) => {
    for (const n of ['query_norm', 'key_norm']) l.add(`${name}.${n}.scale`, [headDim], 'ones');
  };
  b.linear('img_in', channels, h, false);
  b.linear('time_in.in_layer', 256, h, false);
  b.linear('time_in.out_layer', h, h, false);
  if (c.guidanceEmbedder) {
    b.linear('guidance_in.in_layer', 256, h, false);
    b.linear('guidance_in.out_layer', h, h, false);
  }
  b.linear('txt_in', c.textWidth, h, false);
  for (let i = 0; i < c.doubleBlocks; i++) {
    b.scoped(`double_blocks.${i}`, (l) => {
      for (const stream of ['img', 'txt']) {
        l.linear(`${stream}_attn.qkv`, h, 3 * h, false);
        qkNorm(l, `${stream}_attn.norm`);
        l.linear(`${stream}_attn.proj`, h, h, false);
        l.linear(`${stream}_mlp.0`, h, 2 * mlp, false);
        l.linear(`${stream}_mlp.2`, mlp, h, false);
      }
    });
  }
  for (let i = 0; i < c.singleBlocks; i++) {
    b.scoped(`single_blocks.${i}`, (l) => {
      l.linear('linear1', h, 3 * h + 2 * mlp, false);
      l.linear('linear2', h + mlp, h, false);
      qkNorm(l, 'norm');
    });
  }
  b.linear('double_stream_modulation_img.lin', h, 6 * h, false);
  b.linear('double_stream_modulation_txt.lin', h, 6 * h, false);
  b.linear('single_stream_modulation.lin', h, 3 * h, false);
  b.linear('final_layer.linear', h, channels, false);
  b.linear('final_layer.adaLN_modulation.1', h, 2 * h, false);
}

/**
 * The FLUX.2 VAE (`flux2_ae.safetensors` from FLUX.2-dev, original names): FLUX.1's AutoencoderKL at 32 latent
 * channels with its quant convs kept inside the encoder and decoder, and the batch norm over 2x2-patched latents
 * (`bn.running_mean` / `bn.running_var`, 128 channels) that the engine does not read; ~84 M parameters.
 */
export function flux2Vae(b: LayoutBuilder): void {
  const z = 32;
  const scope = new LayoutBuilder();
  autoencoderKL(scope, z, true);
  for (const t of scope.tensors) {
    const name = t.name.replace(/^quant_conv\./, 'encoder.quant_conv.').replace(/^post_quant_conv\./, 'decoder.post_quant_conv.');
    b.add(name, t.shape, t.init);
  }
  b.add('bn.running_mean', [4 * z], 'zeros');
  b.add('bn.running_var', [4 * z], 'ones');
}
