import { LayoutBuilder } from '../tensor-spec.js';

/** Hyper-parameters of the LDM UNet (original `model.diffusion_model.*` names). */
export interface UnetConfig {
  inChannels: number;
  modelChannels: number;
  channelMult: number[];
  numResBlocks: number;
  /** Downsampling factors at which spatial transformers sit. */
  attentionResolutions: number[];
  /** Heads per attention; or, with headChannels, derived as channels / headChannels. */
  numHeads: number;
  headChannels?: number;
  contextDim: number;
  /** SD 2.x and later: the spatial transformers' proj_in/proj_out are Linear, not 1x1 Conv2d. */
  linearProjection?: boolean;
  /** Transformer blocks per spatial transformer, per level (the middle block uses the last). Default 1. */
  transformerDepth?: number[];
  /** SDXL: the pooled-text + size conditioning vector's width (label_emb). */
  admInChannels?: number;
  /** Tiny UNets (BK-SDM, SDXS) drop the middle block and renumber the blocks around the removed ones. */
  tiny: boolean;
}

export const SD1_UNET: UnetConfig = {
  inChannels: 4,
  modelChannels: 320,
  channelMult: [1, 2, 4, 4],
  numResBlocks: 2,
  attentionResolutions: [4, 2, 1],
  numHeads: 8,
  contextDim: 768,
  tiny: false,
};

/** Stable Diffusion 2.x: OpenCLIP-H context (1024), 64-channel heads, linear projections. */
export const SD2_UNET: UnetConfig = { ...SD1_UNET, contextDim: 1024, headChannels: 64, linearProjection: true };

/** SDXL base: three levels, attention at the lower two with 2 and 10 transformer blocks, 2048-wide context. */
export const SDXL_UNET: UnetConfig = {
  ...SD2_UNET,
  channelMult: [1, 2, 4],
  attentionResolutions: [4, 2],
  transformerDepth: [1, 2, 10],
  contextDim: 2048,
  admInChannels: 2816,
};

/** SDXS-512: the distilled tiny UNet, attention only at the two lower resolutions. */
export const SDXS_512_UNET: UnetConfig = {
  ...SD1_UNET,
  channelMult: [1, 2, 4],
  numResBlocks: 1,
  attentionResolutions: [4, 2],
  tiny: true,
};

function resBlock(b: LayoutBuilder, name: string, inCh: number, outCh: number, embDim: number): void {
  b.scoped(name, (r) => {
    r.norm('in_layers.0', inCh);
    r.conv('in_layers.2', inCh, outCh, 3);
    r.linear('emb_layers.1', embDim, outCh);
    r.norm('out_layers.0', outCh);
    r.conv('out_layers.3', outCh, outCh, 3);
    if (inCh !== outCh) r.conv('skip_connection', inCh, outCh, 1);
  });
}

function spatialTransformer(b: LayoutBuilder, name: string, ch: number, contextDim: number, linear = false, depth = 1): void {
  b.scoped(name, (t) => {
    t.norm('norm', ch);
    if (linear) t.linear('proj_in', ch, ch);
    else t.conv('proj_in', ch, ch, 1);
    for (let d = 0; d < depth; d++) t.scoped(`transformer_blocks.${d}`, (blk) => {
      blk.linear('attn1.to_q', ch, ch, false);
      blk.linear('attn1.to_k', ch, ch, false);
      blk.linear('attn1.to_v', ch, ch, false);
      blk.linear('attn1.to_out.0', ch, ch);
      blk.linear('ff.net.0.proj', ch, ch * 8); // GEGLU: two halves of 4*ch
      blk.linear('ff.net.2', ch * 4, ch);
      blk.linear('attn2.to_q', ch, ch, false);
      blk.linear('attn2.to_k', contextDim, ch, false);
      blk.linear('attn2.to_v', contextDim, ch, false);
      blk.linear('attn2.to_out.0', ch, ch);
      blk.norm('norm1', ch);
      blk.norm('norm2', ch);
      blk.norm('norm3', ch);
    });
    if (linear) t.linear('proj_out', ch, ch);
    else t.conv('proj_out', ch, ch, 1);
  });
}

/**
 * Tensor layout of the UNet; block numbering follows the original LDM code and its tiny variants.
 * Returns the output channels of each input block, in order (what skip connections and ControlNet's
 * zero convolutions see).
 */
export function unet(b: LayoutBuilder, c: UnetConfig): number[] {
  const mc = c.modelChannels;
  const emb = mc * 4;
  b.linear('time_embed.0', mc, emb);
  b.linear('time_embed.2', emb, emb);
  if (c.admInChannels) {
    b.linear('label_emb.0.0', c.admInChannels, emb);
    b.linear('label_emb.0.2', emb, emb);
  }
  b.conv('input_blocks.0.0', c.inChannels, mc, 3);
  const depth = (level: number) => c.transformerDepth?.[level] ?? 1;

  const skipChannels = [mc];
  let ch = mc;
  let inputIndex = 0;
  let ds = 1;
  c.channelMult.forEach((mult, level) => {
    for (let j = 0; j < c.numResBlocks; j++) {
      inputIndex++;
      resBlock(b, `input_blocks.${inputIndex}.0`, ch, mult * mc, emb);
      ch = mult * mc;
      if (c.attentionResolutions.includes(ds)) spatialTransformer(b, `input_blocks.${inputIndex}.1`, ch, c.contextDim, c.linearProjection, depth(level));
      skipChannels.push(ch);
      if (c.tiny) inputIndex++;
    }
    if (level !== c.channelMult.length - 1) {
      inputIndex++;
      b.conv(`input_blocks.${inputIndex}.0.op`, ch, ch, 3);
      skipChannels.push(ch);
      ds *= 2;
    }
  });

  const inputChannels = [...skipChannels];
  if (!c.tiny) {
    resBlock(b, 'middle_block.0', ch, ch, emb);
    spatialTransformer(b, 'middle_block.1', ch, c.contextDim, c.linearProjection, depth(c.channelMult.length - 1));
    resBlock(b, 'middle_block.2', ch, ch, emb);
  }

  let outputIndex = 0;
  for (let level = c.channelMult.length - 1; level >= 0; level--) {
    const mult = c.channelMult[level];
    for (let j = 0; j <= c.numResBlocks; j++) {
      const skip = skipChannels.pop()!;
      resBlock(b, `output_blocks.${outputIndex}.0`, ch + skip, mult * mc, emb);
      ch = mult * mc;
      let upIndex = 1;
      if (c.attentionResolutions.includes(ds)) {
        spatialTransformer(b, `output_blocks.${outputIndex}.1`, ch, c.contextDim, c.linearProjection, depth(level));
        upIndex++;
      }
      if (level > 0 && j === c.numResBlocks) {
        if (c.tiny) {
          outputIndex++;
          if (outputIndex === 2) upIndex = 1;
        }
        b.conv(`output_blocks.${outputIndex}.${upIndex}.conv`, ch, ch, 3);
        ds /= 2;
      }
      outputIndex++;
    }
  }

  b.norm('out.0', mc);
  b.conv('out.2', mc, 4, 3);
  return inputChannels;
}

/**
 * ControlNet (ControlNet 1.0/1.1 names): a copy of the UNet's encoder and middle block, the hint encoder for
 * the 3-channel control image, and a 1x1 'zero convolution' after every input block (trained, so not zero).
 */
export function controlNet(b: LayoutBuilder, c: UnetConfig): void {
  const full = new LayoutBuilder();
  const inputChannels = unet(full, c);
  for (const t of full.tensors) {
    if (/^(time_embed|input_blocks|middle_block)\./.test(t.name)) b.add(t.name, t.shape, t.init);
  }
  inputChannels.forEach((ch, i) => b.conv(`zero_convs.${i}.0`, ch, ch, 1));
  const hint: [number, number][] = [[3, 16], [16, 16], [16, 32], [32, 32], [32, 96], [96, 96], [96, 256], [256, c.modelChannels]];
  hint.forEach(([inCh, outCh], i) => b.conv(`input_hint_block.${i * 2}`, inCh, outCh, 3));
  const mid = inputChannels[inputChannels.length - 1];
  b.conv('middle_block_out.0', mid, mid, 1);
}
