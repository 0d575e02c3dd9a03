// FLOP counts of the SD 1.x networks the benchmark runs, for its GFLOPS column: convolutions and matrix
// products (2 FLOPs per multiply-add), attention included; norms, activations and adds are left out.
// Layouts as in the engine (src/unet.hpp, src/vae.hpp): UNet 320/640/1280/1280 channels, 2 resblocks per
// level down and 3 up, transformers of 8 heads on the first three levels and the middle, 77 text tokens
// of 768; VAE decoder 512/512/256/128 channels, 3 resblocks per level, one attention block in the middle.

const conv = (cin, cout, hw, k = 3) => 2 * k * k * cin * cout * hw;
const linear = (cin, cout, tokens) => 2 * cin * cout * tokens;

function resblock(cin, cout, hw, timeDim = 0) {
  return conv(cin, cout, hw) + conv(cout, cout, hw) + (cin !== cout ? conv(cin, cout, hw, 1) : 0) + (timeDim ? linear(timeDim, cout, 1) : 0);
}

function transformer(c, hw, contextTokens = 77, contextDim = 768) {
  const self = 4 * linear(c, c, hw) + 2 * (2 * hw * hw * c);
  const cross = 2 * linear(c, c, hw) + 2 * linear(contextDim, c, contextTokens) + 2 * (2 * hw * contextTokens * c);
  const feedForward = linear(c, 8 * c, hw) + linear(4 * c, c, hw);
  return 2 * conv(c, c, hw, 1) + self + cross + feedForward;
}

/** One SD 1.x UNet evaluation on a latent of `h` x `w` (one of the two a CFG step makes). */
export function sd1UnetFlops(h, w) {
  const mult = [1, 2, 4, 4].map((m) => 320 * m);
  const area = (level) => (h >> level) * (w >> level);
  let flops = conv(4, 320, area(0)) + linear(320, 1280, 1) + linear(1280, 1280, 1);
  const skips = [320];
  let ch = 320;
  for (let level = 0; level < 4; level++) {
    for (let i = 0; i < 2; i++) {
      flops += resblock(ch, mult[level], area(level), 1280);
      ch = mult[level];
      if (level < 3) flops += transformer(ch, area(level));
      skips.push(ch);
    }
    if (level < 3) {
      flops += conv(ch, ch, area(level + 1)); // stride-2 downsample
      skips.push(ch);
    }
  }
  flops += 2 * resblock(ch, ch, area(3), 1280) + transformer(ch, area(3));
  for (let level = 3; level >= 0; level--) {
    for (let i = 0; i < 3; i++) {
      flops += resblock(ch + skips.pop(), mult[level], area(level), 1280);
      ch = mult[level];
      if (level < 3) flops += transformer(ch, area(level));
    }
    if (level > 0) flops += conv(ch, ch, area(level - 1)); // nearest 2x, then conv
  }
  return flops + conv(320, 4, area(0));
}

/** The SD 1.x VAE decoder from a latent of `h` x `w` (output 8x that). */
export function sd1VaeDecoderFlops(h, w) {
  const mult = [128, 256, 512, 512];
  const area = (level) => (h << (3 - level)) * (w << (3 - level));
  let flops = conv(4, 4, area(3), 1) + conv(4, 512, area(3));
  const hw = area(3);
  flops += 2 * resblock(512, 512, hw) + 4 * conv(512, 512, hw, 1) + 2 * (2 * hw * hw * 512);
  let ch = 512;
  for (let level = 3; level >= 0; level--) {
    for (let i = 0; i < 3; i++) {
      flops += resblock(ch, mult[level], area(level));
      ch = mult[level];
    }
    if (level > 0) flops += conv(ch, ch, area(level - 1));
  }
  return flops + conv(128, 3, area(0));
}
