import { LayoutBuilder } from '../tensor-spec.js';

/**
 * An OpenCLIP text tower (`token_embedding`, `transformer.resblocks.N.*`, `ln_final`, `text_projection`):
 * ViT-H/14 (width 1024, 24 layers; SD 2.x `cond_stage_model.model`) or ViT-bigG/14 (1280, 32; SDXL's
 * second text encoder, `conditioner.embedders.1.model`).
 */
export function openClipText(b: LayoutBuilder, width: number, layers: number): void {
  b.embedding('token_embedding', 49408, width);
  b.add('positional_embedding', [77, width], 'embedding');
  for (let i = 0; i < layers; i++) {
    b.scoped(`transformer.resblocks.${i}`, (l) => {
      l.norm('ln_1', width);
      l.add('attn.in_proj_weight', [3 * width, width], 'fan-in');
      l.add('attn.in_proj_bias', [3 * width], 'zeros');
      l.linear('attn.out_proj', width, width);
      l.norm('ln_2', width);
      l.linear('mlp.c_fc', width, 4 * width);
      l.linear('mlp.c_proj', 4 * width, width);
    });
  }
  b.norm('ln_final', width);
  b.add('text_projection', [width, width], 'fan-in');
  b.add('logit_scale', [], 'ones');
}
