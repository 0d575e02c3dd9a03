// The config.json files of the diffusers folders diffusekit writes (the synthesizer's, and single-file bases
// converted for the trainer): the released folders' configs, less what the defaults give. Each is complete
// enough that diffusers and transformers load the folder themselves.

/** The layouts a diffusers folder is written for. */
export type DiffusersArchitecture = 'sd1' | 'sdxl';

const SD1_UNET = (inChannels: number) => ({
  _class_name: 'UNet2DConditionModel', in_channels: inChannels, out_channels: 4, block_out_channels: [320, 640, 1280, 1280],
  layers_per_block: 2, cross_attention_dim: 768, attention_head_dim: 8, sample_size: 64,
  down_block_types: ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'],
  up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'],
});

/** SDXL base 1.0: three levels, 2 and 10 transformer blocks, linear projections, the pooled-text + size embedding (text_time). */
const SDXL_UNET = (inChannels: number) => ({
  _class_name: 'UNet2DConditionModel', in_channels: inChannels, out_channels: 4, block_out_channels: [320, 640, 1280],
  layers_per_block: 2, cross_attention_dim: 2048, attention_head_dim: [5, 10, 20], transformer_layers_per_block: [1, 2, 10],
  use_linear_projection: true, sample_size: 128, addition_embed_type: 'text_time', addition_time_embed_dim: 256,
  projection_class_embeddings_input_dim: 2816,
  down_block_types: ['DownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D'],
  up_block_types: ['CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'UpBlock2D'],
});

const VAE = (scalingFactor: number, sampleSize: number) => ({
  _class_name: 'AutoencoderKL', in_channels: 3, out_channels: 3, latent_channels: 4, block_out_channels: [128, 256, 512, 512], layers_per_block: 2, sample_size: sampleSize,
  down_block_types: Array(4).fill('DownEncoderBlock2D'), up_block_types: Array(4).fill('UpDecoderBlock2D'), act_fn: 'silu', norm_num_groups: 32, scaling_factor: scalingFactor,
});

/** CLIP ViT-L/14 (SD 1.x's text encoder, SDXL's first). */
const CLIP_L = {
  architectures: ['CLIPTextModel'], model_type: 'clip_text_model', hidden_size: 768, intermediate_size: 3072, num_hidden_layers: 12, num_attention_heads: 12,
  max_position_embeddings: 77, vocab_size: 49408, hidden_act: 'quick_gelu', projection_dim: 768, bos_token_id: 0, eos_token_id: 2, pad_token_id: 1,
};

/** OpenCLIP ViT-bigG/14 as transformers' CLIPTextModelWithProjection (SDXL's second text encoder; the pooled output is projected). */
const CLIP_BIG_G = {
  architectures: ['CLIPTextModelWithProjection'], model_type: 'clip_text_model', hidden_size: 1280, intermediate_size: 5120, num_hidden_layers: 32, num_attention_heads: 20,
  max_position_embeddings: 77, vocab_size: 49408, hidden_act: 'gelu', projection_dim: 1280, bos_token_id: 0, eos_token_id: 2, pad_token_id: 1,
};

/** Each folder's config.json, and model_index.json, per layout. */
export const DIFFUSERS_CONFIGS: Record<DiffusersArchitecture, { index: object; folders: Record<string, (inChannels: number) => object> }> = {
  sd1: {
    index: { _class_name: 'StableDiffusionPipeline', unet: ['diffusers', 'UNet2DConditionModel'], vae: ['diffusers', 'AutoencoderKL'], text_encoder: ['transformers', 'CLIPTextModel'] },
    folders: { unet: SD1_UNET, vae: () => VAE(0.18215, 512), text_encoder: () => CLIP_L },
  },
  sdxl: {
    index: {
      _class_name: 'StableDiffusionXLPipeline', unet: ['diffusers', 'UNet2DConditionModel'], vae: ['diffusers', 'AutoencoderKL'],
      text_encoder: ['transformers', 'CLIPTextModel'], text_encoder_2: ['transformers', 'CLIPTextModelWithProjection'],
    },
    // SDXL's VAE is SD 1.x's architecture, retrained, with its own latent scale
    folders: { unet: SDXL_UNET, vae: () => ({ ...VAE(0.13025, 1024), force_upcast: true }), text_encoder: () => CLIP_L, text_encoder_2: () => CLIP_BIG_G },
  },
};
