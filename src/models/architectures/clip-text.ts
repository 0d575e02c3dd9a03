import { LayoutBuilder } from '../tensor-spec.js';

/** CLIP ViT-L/14 text encoder (transformers CLIPTextModel names), as SD 1.x checkpoints carry it. */
export function clipTextL(b: LayoutBuilder): void {
  clipText(b, 768, 12, 3072);
}

/** A CLIP text encoder in transformers' names: ViT-L/14 (768, 12 layers) or ViT-bigG/14 (1280, 32, SD3's clip_g). */
export function clipText(b: LayoutBuilder, width: number, layers: number, mlp: number): void {
  b.embedding('embeddings.token_embedding', 49408, width);
  b.embedding('embeddings.position_embedding', 77, width);
  for (let i = 0; i < layers; i++) {
    b.scoped(`encoder.layers.${i}`, (l) => {
      for (const proj of ['k_proj', 'v_proj', 'q_proj', 'out_proj']) l.linear(`self_attn.${proj}`, width, width);
      l.norm('layer_norm1', width);
      l.linear('mlp.fc1', width, mlp);
      l.linear('mlp.fc2', mlp, width);
      l.norm('layer_norm2', width);
    });
  }
  b.norm('final_layer_norm', width);
}
