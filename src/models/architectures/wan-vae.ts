import { LayoutBuilder } from '../tensor-spec.js';

/**
 * The Wan causal 3D VAE in its original names (ComfyUI `wan_2.1_vae` / `wan2.2_vae`, no prefix): `encoder.*`,
 * `conv1` (after the encoder), `conv2` (before the decoder), `decoder.*`. Norms are RMS norms with a `gamma`
 * shaped [C, 1, 1, 1] ([C, 1, 1] in the attention block), convolutions are 3D [out, in, t, h, w] except the
 * spatial resamplers and the attention's 1x1s.
 *
 * - '2.1': 96 channels x [1, 2, 4, 4], z 16, 8x spatial and 4x temporal compression (Wan 2.1, Wan 2.2 14B).
 * - '2.2': encoder 160 / decoder 256 channels, z 48, 2x2 pixel patches in and out (12 channels), residual
 *   groups per level; 16x spatial compression (Wan2.2 TI2V 5B only).
 */
export function wanVae(b: LayoutBuilder, version: '2.1' | '2.2'): void {
  const wan22 = version === '2.2';
  const z = wan22 ? 48 : 16;
  wanVaeEncoder(b, wan22 ? 160 : 96, 2 * z, wan22);
  conv3d(b, 'conv1', 2 * z, 2 * z, [1, 1, 1]);
  conv3d(b, 'conv2', z, z, [1, 1, 1]);
  wanVaeDecoder(b, wan22 ? 256 : 96, z, wan22);
}

const MULT = [1, 2, 4, 4];
const RES_BLOCKS = 2;
const TEMPORAL_DOWN = [false, true, true];
const TEMPORAL_UP = [true, true, false];

function wanVaeEncoder(b: LayoutBuilder, dim: number, outChannels: number, wan22: boolean): void {
  const dims = [dim, ...MULT.map((m) => dim * m)];
  conv3d(b, 'encoder.conv1', wan22 ? 12 : 3, dim, [3, 3, 3]);
  let index = 0;
  for (let i = 0; i < MULT.length; i++) {
    const last = i === MULT.length - 1;
    const mode = TEMPORAL_DOWN[i] ? 'downsample3d' : 'downsample2d';
    if (wan22) {
      // one group per level: residual blocks then the resampler, plus a parameter-free averaging shortcut
      const group = `encoder.downsamples.${index++}`;
      for (let j = 0; j < RES_BLOCKS; j++) residualBlock(b, `${group}.downsamples.${j}`, j === 0 ? dims[i] : dims[i + 1], dims[i + 1]);
      if (!last) resample(b, `${group}.downsamples.${RES_BLOCKS}`, dims[i + 1], mode, true);
    } else {
      for (let j = 0; j < RES_BLOCKS; j++) residualBlock(b, `encoder.downsamples.${index++}`, j === 0 ? dims[i] : dims[i + 1], dims[i + 1]);
      if (!last) resample(b, `encoder.downsamples.${index++}`, dims[i + 1], mode, false);
    }
  }
  const top = dims[dims.length - 1];
  middle(b, 'encoder', top);
  rmsNorm(b, 'encoder.head.0', top, 3);
  conv3d(b, 'encoder.head.2', top, outChannels, [3, 3, 3]);
}

function wanVaeDecoder(b: LayoutBuilder, dim: number, z: number, wan22: boolean): void {
  const dims = [dim * MULT[MULT.length - 1], ...[...MULT].reverse().map((m) => dim * m)];
  conv3d(b, 'decoder.conv1', z, dims[0], [3, 3, 3]);
  middle(b, 'decoder', dims[0]);
  let index = 0;
  for (let i = 0; i < MULT.length; i++) {
    const last = i === MULT.length - 1;
    const mode = TEMPORAL_UP[i] ? 'upsample3d' : 'upsample2d';
    if (wan22) {
      const group = `decoder.upsamples.${index++}`;
      for (let j = 0; j <= RES_BLOCKS; j++) residualBlock(b, `${group}.upsamples.${j}`, j === 0 ? dims[i] : dims[i + 1], dims[i + 1]);
      if (!last) resample(b, `${group}.upsamples.${RES_BLOCKS + 1}`, dims[i + 1], mode, true);
    } else {
      // Wan 2.1's upsamplers halve the channels, so every level after the first starts from half its input
      const inDim = i === 0 ? dims[i] : dims[i] / 2;
      for (let j = 0; j <= RES_BLOCKS; j++) residualBlock(b, `decoder.upsamples.${index++}`, j === 0 ? inDim : dims[i + 1], dims[i + 1]);
      if (!last) resample(b, `decoder.upsamples.${index++}`, dims[i + 1], mode, false);
    }
  }
  const out = dims[dims.length - 1];
  rmsNorm(b, 'decoder.head.0', out, 3);
  conv3d(b, 'decoder.head.2', out, wan22 ? 12 : 3, [3, 3, 3]);
}

function middle(b: LayoutBuilder, prefix: string, dim: number): void {
  residualBlock(b, `${prefix}.middle.0`, dim, dim);
  rmsNorm(b, `${prefix}.middle.1.norm`, dim, 2);
  b.conv(`${prefix}.middle.1.to_qkv`, dim, 3 * dim, 1);
  b.conv(`${prefix}.middle.1.proj`, dim, dim, 1);
  residualBlock(b, `${prefix}.middle.2`, dim, dim);
}

function residualBlock(b: LayoutBuilder, name: string, inDim: number, outDim: number): void {
  rmsNorm(b, `${name}.residual.0`, inDim, 3);
  conv3d(b, `${name}.residual.2`, inDim, outDim, [3, 3, 3]);
  rmsNorm(b, `${name}.residual.3`, outDim, 3);
  conv3d(b, `${name}.residual.6`, outDim, outDim, [3, 3, 3]);
  if (inDim !== outDim) conv3d(b, `${name}.shortcut`, inDim, outDim, [1, 1, 1]);
}

type ResampleMode = 'downsample2d' | 'downsample3d' | 'upsample2d' | 'upsample3d';

/** A spatial 3x3 conv (stride 2 down; after nearest 2x up, halving channels in Wan 2.1) plus, for 3d, a temporal conv. */
function resample(b: LayoutBuilder, name: string, dim: number, mode: ResampleMode, wan22: boolean): void {
  const up = mode.startsWith('up');
  b.conv(`${name}.resample.1`, dim, up && !wan22 ? dim / 2 : dim, 3);
  if (mode === 'downsample3d') conv3d(b, `${name}.time_conv`, dim, dim, [3, 1, 1]);
  if (mode === 'upsample3d') conv3d(b, `${name}.time_conv`, dim, 2 * dim, [3, 1, 1]);
}

function conv3d(b: LayoutBuilder, name: string, inChannels: number, outChannels: number, kernel: [number, number, number]): void {
  b.add(`${name}.weight`, [outChannels, inChannels, ...kernel], 'fan-in');
  b.add(`${name}.bias`, [outChannels], 'zeros');
}

/** RMS norm scale, broadcast over (t, h, w) for video features or (h, w) for the per-frame attention. */
function rmsNorm(b: LayoutBuilder, name: string, dim: number, broadcastDims: 2 | 3): void {
  b.add(`${name}.gamma`, [dim, ...Array<number>(broadcastDims).fill(1)], 'ones');
}
