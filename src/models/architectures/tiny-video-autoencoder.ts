import { LayoutBuilder } from '../tensor-spec.js';

/**
 * The tiny video autoencoder TAEHV (madebyollin/taehv `taew2_1` / `taew2_2`; the engine's `--tae`, in place of
 * the Wan VAE): `encoder.N` / `decoder.N` as nn.Sequential indices, 2D convs with a one-frame memory
 * (MemBlock: conv over [x, previous frame]) and 1x1 temporal pool/grow convs. A few million parameters.
 *
 * - taew2_1: z 16, pixels in and out directly (Wan 2.1, Wan 2.2 14B, Qwen-Image).
 * - taew2_2: z 48 over 2x2 pixel patches (Wan2.2 TI2V 5B).
 */
export function tinyVideoAutoencoder(b: LayoutBuilder, version: '2.1' | '2.2'): void {
  const z = version === '2.2' ? 48 : 16;
  const pixelChannels = version === '2.2' ? 3 * 2 * 2 : 3;
  const hidden = 64;

  // encoder: conv, ReLU, then per level TPool (time stride 2, 2, 1), a stride-2 conv and three MemBlocks, conv to z
  let i = 0;
  b.conv(`encoder.${i++}`, pixelChannels, hidden, 3);
  i++; // ReLU
  for (const timeStride of [2, 2, 1]) {
    b.conv(`encoder.${i++}.conv`, hidden * timeStride, hidden, 1, false);
    b.conv(`encoder.${i++}`, hidden, hidden, 3, false);
    for (let k = 0; k < 3; k++) memBlock(b, `encoder.${i++}`, hidden, hidden);
  }
  b.conv(`encoder.${i++}`, hidden, z, 3);

  // decoder: Clamp, conv, ReLU, then per level three MemBlocks, Upsample, TGrow (time stride 1, 2, 2), conv
  const channels = [256, 128, 64, 64];
  i = 1; // Clamp
  b.conv(`decoder.${i++}`, z, channels[0], 3);
  i++; // ReLU
  [1, 2, 2].forEach((timeStride, level) => {
    for (let k = 0; k < 3; k++) memBlock(b, `decoder.${i++}`, channels[level], channels[level]);
    i++; // Upsample
    b.conv(`decoder.${i++}.conv`, channels[level], channels[level] * timeStride, 1, false);
    b.conv(`decoder.${i++}`, channels[level], channels[level + 1], 3, false);
  });
  i++; // ReLU
  b.conv(`decoder.${i++}`, channels[3], pixelChannels, 3);
}

function memBlock(b: LayoutBuilder, name: string, inChannels: number, outChannels: number): void {
  b.conv(`${name}.conv.0`, 2 * inChannels, outChannels, 3);
  b.conv(`${name}.conv.2`, outChannels, outChannels, 3);
  b.conv(`${name}.conv.4`, outChannels, outChannels, 3);
  if (inChannels !== outChannels) b.conv(`${name}.skip`, inChannels, outChannels, 1, false);
}
