import { LayoutBuilder } from '../tensor-spec.js';

/**
 * A kohya-format LoRA for the SD 1.x UNet (`lora_unet_<diffusers module path>` with `lora_down`, `lora_up`
 * and `alpha`), over the attention projections of every transformer block: what most community LoRAs touch.
 */
export function sd1UnetLora(b: LayoutBuilder, rank = 4, style: 'kohya' | 'peft' = 'kohya'): void {
  const blocks: [string, number][] = [];
  [320, 640, 1280].forEach((ch, i) => [0, 1].forEach((j) => blocks.push([`down_blocks_${i}_attentions_${j}`, ch])));
  blocks.push(['mid_block_attentions_0', 1280]);
  [1280, 640, 320].forEach((ch, i) => [0, 1, 2].forEach((j) => blocks.push([`up_blocks_${i + 1}_attentions_${j}`, ch])));
  for (const [block, ch] of blocks) {
    for (const [attn, contextDim] of [['attn1', ch], ['attn2', 768]] as const) {
      for (const [proj, inFeatures] of [['to_q', ch], ['to_k', contextDim], ['to_v', contextDim], ['to_out_0', ch]] as const) {
        if (style === 'kohya') {
          const name = `lora_unet_${block}_transformer_blocks_0_${attn}_${proj}`;
          b.add(`${name}.lora_down.weight`, [rank, inFeatures], 'fan-in');
          b.add(`${name}.lora_up.weight`, [ch, rank], 'fan-in');
          b.add(`${name}.alpha`, [], 'ones');
        } else {
          // diffusers / peft: dotted module path, lora_A (down) and lora_B (up), no alpha
          const name = `unet.${block.replace(/_(\d+)_attentions_(\d+)$/, '.$1.attentions.$2').replace('mid_block_attentions_0', 'mid_block.attentions.0')}.transformer_blocks.0.${attn}.${proj.replace('to_out_0', 'to_out.0')}`;
          b.add(`${name}.lora_A.weight`, [rank, inFeatures], 'fan-in');
          b.add(`${name}.lora_B.weight`, [ch, rank], 'fan-in');
        }
      }
    }
  }
}
