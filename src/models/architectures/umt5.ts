import type { LayoutBuilder } from '../tensor-spec.js';
import { t5Encoder } from './t5.js';

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
  t5Encoder(b, { vocabulary: 256384, positionBiasInEveryBlock: true });
}
