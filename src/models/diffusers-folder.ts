import fs from 'node:fs';
import path from 'node:path';
import { diffusersUnetName, diffusersVaeName } from './diffusers-names.js';
import { writeSafetensors, type SafetensorsEntry } from './safetensors.js';

/**
 * Splits a single-file SD 1.x layout (model.diffusion_model.*, first_stage_model.*, cond_stage_model.transformer.*)
 * into a diffusers folder, renaming each tensor as diffusers stores it; other tensors (EMA copies, schedules) are
 * left out. `fill(entry, i)` gives the bytes of entries[i]. Written aside and renamed: a folder is whole or absent.
 */
export function writeDiffusersFolder(dir: string, unet: { inChannels: number }, entries: SafetensorsEntry[], fill: (e: SafetensorsEntry, i: number) => Uint8Array): void {
  const parts = [
    { folder: 'unet', file: 'diffusion_pytorch_model.safetensors', prefix: 'model.diffusion_model.', rename: diffusersUnetName },
    { folder: 'vae', file: 'diffusion_pytorch_model.safetensors', prefix: 'first_stage_model.', rename: diffusersVaeName },
    // older checkpoints lack transformers' text_model. level
    { folder: 'text_encoder', file: 'model.safetensors', prefix: 'cond_stage_model.transformer.', rename: (n: string) => (n.startsWith('text_model.') ? n : `text_model.${n}`) },
  ];
  const tmp = `${dir}.${process.pid}.part`;
  fs.rmSync(tmp, { recursive: true, force: true });
  for (const part of parts) {
    fs.mkdirSync(path.join(tmp, part.folder), { recursive: true });
    // position_ids is a buffer transformers makes itself (and refuses as an unexpected key)
    const chosen = entries.map((e, i) => ({ e, i })).filter(({ e }) => e.name.startsWith(part.prefix) && !e.name.endsWith('position_ids'));
    const renamed = chosen.map(({ e }) => {
      const name = part.rename(e.name.slice(part.prefix.length));
      // diffusers keeps the VAE's attention projections as Linear weights: [out, in] rather than [out, in, 1, 1]
      const shape = /attentions\.0\.to_(q|k|v|out\.0)\.weight$/.test(name) ? e.shape.slice(0, 2) : e.shape;
      return { ...e, name, shape };
    });
    writeSafetensors(path.join(tmp, part.folder, part.file), renamed, (_, k) => fill(entries[chosen[k].i], chosen[k].i), { format: 'pt' });
    fs.writeFileSync(path.join(tmp, part.folder, 'config.json'), `${JSON.stringify(DIFFUSERS_CONFIGS[part.folder](unet.inChannels), null, 2)}\n`);
  }
  fs.writeFileSync(
    path.join(tmp, 'model_index.json'),
    `${JSON.stringify({ _class_name: 'StableDiffusionPipeline', unet: ['diffusers', 'UNet2DConditionModel'], vae: ['diffusers', 'AutoencoderKL'], text_encoder: ['transformers', 'CLIPTextModel'] }, null, 2)}\n`,
  );
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(tmp, dir);
}

/** The SD 1.x configs (as the released v1-5 folders have them, less what the defaults give). */
const DIFFUSERS_CONFIGS: Record<string, (inChannels: number) => object> = {
  unet: (inChannels) => ({
    _class_name: 'UNet2DConditionModel', in_channels: inChannels, out_channels: 4, block_out_channels: [320, 640, 1280, 1280],
    layers_per_block: 2, cross_attention_dim: 768, attention_head_dim: 8, sample_size: 64,
    down_block_types: ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'],
    up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'],
  }),
  vae: () => ({
    _class_name: 'AutoencoderKL', in_channels: 3, out_channels: 3, latent_channels: 4, block_out_channels: [128, 256, 512, 512], layers_per_block: 2, sample_size: 512,
    down_block_types: Array(4).fill('DownEncoderBlock2D'), up_block_types: Array(4).fill('UpDecoderBlock2D'), act_fn: 'silu', norm_num_groups: 32, scaling_factor: 0.18215,
  }),
  text_encoder: () => ({
    architectures: ['CLIPTextModel'], model_type: 'clip_text_model', hidden_size: 768, intermediate_size: 3072, num_hidden_layers: 12, num_attention_heads: 12,
    max_position_embeddings: 77, vocab_size: 49408, hidden_act: 'quick_gelu', projection_dim: 768, bos_token_id: 0, eos_token_id: 2, pad_token_id: 1,
  }),
};
