import type { SafetensorsEntry } from './safetensors.js';

/** A tensor to write: its entry (name, dtype, shape, size) and how to get its bytes. */
export interface TensorSource {
  entry: SafetensorsEntry;
  bytes: () => Uint8Array;
}

const LAYER_NAMES: Record<string, string> = {
  ln_1: 'layer_norm1', ln_2: 'layer_norm2', 'attn.out_proj': 'self_attn.out_proj', 'mlp.c_fc': 'mlp.fc1', 'mlp.c_proj': 'mlp.fc2',
};

/** Rows `part` of `parts` of a row-major tensor: a contiguous byte range. */
function rows(source: TensorSource, part: number, parts: number): TensorSource {
  const { entry } = source;
  const byteLength = entry.byteLength / parts;
  return {
    entry: { ...entry, shape: [entry.shape[0] / parts, ...entry.shape.slice(1)], byteLength },
    bytes: () => source.bytes().subarray(part * byteLength, (part + 1) * byteLength),
  };
}

/** The transpose of a 2-D tensor, element by element (any element size). */
function transposed(source: TensorSource): TensorSource {
  const [r, c] = source.entry.shape;
  const size = source.entry.byteLength / (r * c);
  return {
    entry: { ...source.entry, shape: [c, r] },
    bytes: () => {
      const from = source.bytes();
      const to = new Uint8Array(from.byteLength);
      for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) to.set(from.subarray((i * c + j) * size, (i * c + j + 1) * size), (j * r + i) * size);
      return to;
    },
  };
}

const named = (source: TensorSource, name: string): TensorSource => ({ ...source, entry: { ...source.entry, name } });

/**
 * An OpenCLIP text tower (`token_embedding`, `transformer.resblocks.N.*`, `ln_final`, `text_projection`, names
 * without their checkpoint prefix) as transformers' CLIPTextModelWithProjection stores it: the fused
 * `attn.in_proj_*` split into q, k and v projections, and `text_projection` (applied as `x @ P`) transposed into
 * a Linear weight. `logit_scale` (CLIP's contrastive temperature) has no place there and is left out.
 */
export function openClipToTransformers(sources: TensorSource[]): TensorSource[] {
  const out: TensorSource[] = [];
  for (const source of sources) {
    const name = source.entry.name;
    if (name === 'token_embedding.weight') out.push(named(source, 'text_model.embeddings.token_embedding.weight'));
    else if (name === 'positional_embedding') out.push(named(source, 'text_model.embeddings.position_embedding.weight'));
    else if (name.startsWith('ln_final.')) out.push(named(source, `text_model.final_layer_norm.${name.slice('ln_final.'.length)}`));
    else if (name === 'text_projection') out.push(named(transposed(source), 'text_projection.weight'));
    else {
      const fused = /^transformer\.resblocks\.(\d+)\.attn\.in_proj_(weight|bias)$/.exec(name);
      const m = /^transformer\.resblocks\.(\d+)\.(.+)\.(weight|bias)$/.exec(name);
      if (fused) ['q', 'k', 'v'].forEach((p, i) => out.push(named(rows(source, i, 3), `text_model.encoder.layers.${fused[1]}.self_attn.${p}_proj.${fused[2]}`)));
      else if (m && LAYER_NAMES[m[2]]) out.push(named(source, `text_model.encoder.layers.${m[1]}.${LAYER_NAMES[m[2]]}.${m[3]}`));
      // else: logit_scale, and anything else a checkpoint carries beside the tower
    }
  }
  return out;
}
