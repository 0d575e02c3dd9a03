import { LayoutBuilder } from '../tensor-spec.js';

/**
 * Real-ESRGAN's RRDBNet (`conv_first`, `body.N.rdbK.convM`, `conv_body`, `conv_up1/2`, `conv_hr`, `conv_last`):
 * 23 blocks for RealESRGAN_x4plus, 6 for the x4plus anime variant; 64 features, growth 32.
 */
export function rrdbNet(b: LayoutBuilder, blocks: number, scale: 2 | 4 = 4): void {
  const feat = 64;
  const grow = 32;
  // x2plus folds 2x2 pixel blocks into channels (pixel unshuffle) before conv_first: 12 input channels.
  b.conv('conv_first', scale === 2 ? 12 : 3, feat, 3);
  for (let i = 0; i < blocks; i++) {
    for (let r = 1; r <= 3; r++) {
      for (let c = 1; c <= 5; c++) b.conv(`body.${i}.rdb${r}.conv${c}`, feat + (c - 1) * grow, c === 5 ? feat : grow, 3);
    }
  }
  b.conv('conv_body', feat, feat, 3);
  b.conv('conv_up1', feat, feat, 3);
  if (scale === 4) b.conv('conv_up2', feat, feat, 3);
  b.conv('conv_hr', feat, feat, 3);
  b.conv('conv_last', feat, 3, 3);
}
