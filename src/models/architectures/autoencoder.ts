import { LayoutBuilder } from '../tensor-spec.js';

/**
 * AutoencoderKL (original `first_stage_model.*` names): ch 128, mult [1,2,4,4]; z 4 with quant convs for
 * SD 1.x/2.x/XL, z 16 without them for SD3.
 */
export function autoencoderKL(b: LayoutBuilder, z = 4, quantConvs = true): void {
  const ch = 128;
  const mult = [1, 2, 4, 4];
  const resBlocks = 2;

  const resnet = (name: string, inCh: number, outCh: number) =>
    b.scoped(name, (r) => {
      r.norm('norm1', inCh);
      r.conv('conv1', inCh, outCh, 3);
      r.norm('norm2', outCh);
      r.conv('conv2', outCh, outCh, 3);
      if (inCh !== outCh) r.conv('nin_shortcut', inCh, outCh, 1);
    });
  const mid = (prefix: string, c: number) => {
    resnet(`${prefix}.mid.block_1`, c, c);
    b.scoped(`${prefix}.mid.attn_1`, (a) => {
      a.norm('norm', c);
      for (const p of ['q', 'k', 'v', 'proj_out']) a.conv(p, c, c, 1);
    });
    resnet(`${prefix}.mid.block_2`, c, c);
  };

  // encoder
  b.conv('encoder.conv_in', 3, ch, 3);
  let blockIn = ch;
  mult.forEach((m, level) => {
    const blockOut = ch * m;
    for (let i = 0; i < resBlocks; i++) {
      resnet(`encoder.down.${level}.block.${i}`, blockIn, blockOut);
      blockIn = blockOut;
    }
    if (level !== mult.length - 1) b.conv(`encoder.down.${level}.downsample.conv`, blockIn, blockIn, 3);
  });
  mid('encoder', blockIn);
  b.norm('encoder.norm_out', blockIn);
  b.conv('encoder.conv_out', blockIn, 2 * z, 3);

  // decoder
  blockIn = ch * mult[mult.length - 1];
  b.conv('decoder.conv_in', z, blockIn, 3);
  mid('decoder', blockIn);
  for (let level = mult.length - 1; level >= 0; level--) {
    const blockOut = ch * mult[level];
    for (let i = 0; i <= resBlocks; i++) {
      resnet(`decoder.up.${level}.block.${i}`, blockIn, blockOut);
      blockIn = blockOut;
    }
    if (level !== 0) b.conv(`decoder.up.${level}.upsample.conv`, blockIn, blockIn, 3);
  }
  b.norm('decoder.norm_out', blockIn);
  b.conv('decoder.conv_out', blockIn, 3, 3);

  if (quantConvs) {
    b.conv('quant_conv', 2 * z, 2 * z, 1);
    b.conv('post_quant_conv', z, z, 1);
  }
}

/** Tiny autoencoder (TAESD: `encoder.layers.N` / `decoder.layers.N`), 64 channels, z 4. */
export function tinyAutoencoder(b: LayoutBuilder): void {
  const c = 64;
  const z = 4;
  const block = (name: string) =>
    b.scoped(name, (t) => {
      t.conv('conv.0', c, c, 3);
      t.conv('conv.2', c, c, 3);
      t.conv('conv.4', c, c, 3);
    });

  // encoder: conv, block, then three stages of (strided conv without bias, three blocks), conv to z
  let i = 0;
  b.conv(`encoder.layers.${i++}`, 3, c, 3);
  block(`encoder.layers.${i++}`);
  for (let stage = 0; stage < 3; stage++) {
    b.conv(`encoder.layers.${i++}`, c, c, 3, false);
    for (let k = 0; k < 3; k++) block(`encoder.layers.${i++}`);
  }
  b.conv(`encoder.layers.${i++}`, c, z, 3);

  // decoder: conv, ReLU, three blocks, then three stages of (upsample, conv without bias, blocks)
  i = 0;
  b.conv(`decoder.layers.${i++}`, z, c, 3);
  i++; // ReLU
  for (let k = 0; k < 3; k++) block(`decoder.layers.${i++}`);
  for (let stage = 0; stage < 3; stage++) {
    i++; // Upsample
    b.conv(`decoder.layers.${i++}`, c, c, 3, false);
    for (let k = 0; k < (stage < 2 ? 3 : 1); k++) block(`decoder.layers.${i++}`);
  }
  b.conv(`decoder.layers.${i++}`, c, 3, 3);
}
