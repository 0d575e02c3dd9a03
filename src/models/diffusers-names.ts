// The original LDM tensor names of an SD 1.x/2.x/XL UNet and VAE, renamed the way diffusers stores them
// (unet/diffusion_pytorch_model.safetensors, vae/diffusion_pytorch_model.safetensors), for the
// synthesizer's diffusers-folder output.

const RESNET: Record<string, string> = {
  'in_layers.0': 'norm1', 'in_layers.2': 'conv1', 'emb_layers.1': 'time_emb_proj',
  'out_layers.0': 'norm2', 'out_layers.3': 'conv2', skip_connection: 'conv_shortcut',
};

function renameResnet(rest: string): string {
  const [layer, ...tail] = rest.split(/\.(?=weight|bias)/);
  const key = Object.keys(RESNET).find((k) => layer === k);
  return key ? `${RESNET[key]}.${tail.join('.')}` : rest;
}

/** UNet with 2 res blocks per level (SD 1.x/2.x, and SDXL with its three levels and pooled-text + size embedding). */
export function diffusersUnetName(name: string): string {
  const fixed: Record<string, string> = {
    'time_embed.0': 'time_embedding.linear_1', 'time_embed.2': 'time_embedding.linear_2',
    'label_emb.0.0': 'add_embedding.linear_1', 'label_emb.0.2': 'add_embedding.linear_2',
    'input_blocks.0.0': 'conv_in', 'out.0': 'conv_norm_out', 'out.2': 'conv_out',
  };
  for (const [from, to] of Object.entries(fixed)) if (name.startsWith(`${from}.`)) return to + name.slice(from.length);
  let m = /^input_blocks\.(\d+)\.(\d)\.(.*)$/.exec(name);
  if (m) {
    const n = Number(m[1]) - 1; // 3 blocks per level: res, res, downsample
    const level = Math.floor(n / 3);
    const j = n % 3;
    if (j === 2) return `down_blocks.${level}.downsamplers.0.conv.${m[3].replace(/^op\./, '')}`;
    return m[2] === '0' ? `down_blocks.${level}.resnets.${j}.${renameResnet(m[3])}` : `down_blocks.${level}.attentions.${j}.${m[3]}`;
  }
  m = /^middle_block\.(\d)\.(.*)$/.exec(name);
  if (m) return m[1] === '1' ? `mid_block.attentions.0.${m[2]}` : `mid_block.resnets.${m[1] === '0' ? 0 : 1}.${renameResnet(m[2])}`;
  m = /^output_blocks\.(\d+)\.(\d)\.(.*)$/.exec(name);
  if (m) {
    const n = Number(m[1]);
    const block = `up_blocks.${Math.floor(n / 3)}`;
    if (m[3].startsWith('conv.')) return `${block}.upsamplers.0.${m[3]}`;
    return m[2] === '0' ? `${block}.resnets.${n % 3}.${renameResnet(m[3])}` : `${block}.attentions.${n % 3}.${m[3]}`;
  }
  return name;
}

/** AutoencoderKL with 4 levels (encoder.down.L / decoder.up.L, the decoder's levels numbered from the top). */
export function diffusersVaeName(name: string): string {
  const resnet = (s: string) => s.replace(/^nin_shortcut\./, 'conv_shortcut.');
  const attn: Record<string, string> = { norm: 'group_norm', q: 'to_q', k: 'to_k', v: 'to_v', proj_out: 'to_out.0' };
  let m = /^(encoder|decoder)\.mid\.(block_1|block_2|attn_1)\.(\w+)\.(.*)$/.exec(name);
  if (m) {
    if (m[2] === 'attn_1') return `${m[1]}.mid_block.attentions.0.${attn[m[3]]}.${m[4]}`;
    return `${m[1]}.mid_block.resnets.${m[2] === 'block_1' ? 0 : 1}.${resnet(`${m[3]}.${m[4]}`)}`;
  }
  m = /^encoder\.down\.(\d)\.(block\.(\d)|downsample)\.(.*)$/.exec(name);
  if (m) return m[3] !== undefined ? `encoder.down_blocks.${m[1]}.resnets.${m[3]}.${resnet(m[4])}` : `encoder.down_blocks.${m[1]}.downsamplers.0.${m[4]}`;
  m = /^decoder\.up\.(\d)\.(block\.(\d)|upsample)\.(.*)$/.exec(name);
  if (m) {
    const level = 3 - Number(m[1]);
    return m[3] !== undefined ? `decoder.up_blocks.${level}.resnets.${m[3]}.${resnet(m[4])}` : `decoder.up_blocks.${level}.upsamplers.0.${m[4]}`;
  }
  return name.replace(/^(encoder|decoder)\.norm_out\./, '$1.conv_norm_out.');
}
