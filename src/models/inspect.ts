import fs from 'node:fs/promises';
import path from 'node:path';
import { ModelFileError } from '../errors.js';
import { scanLegacyCheckpoint, scanPickle, UnsafePickleError, zipDataPickle } from './pickle-scan.js';

export type ModelFormat = 'safetensors' | 'gguf' | 'ckpt' | 'diffusers';
/**
 * Image families ('sd3' is SD 3 and 3.5 medium/large; 'flux' FLUX.1 dev/schnell/Kontext; 'flux2' FLUX.2 dev and
 * klein), and 'wan': the Wan video diffusion transformers (2.1 and 2.2).
 */
export const MODEL_FAMILIES = ['sd1', 'sd2', 'sdxl', 'sd3', 'flux', 'flux2', 'chroma', 'z-image', 'qwen-image', 'wan', 'unknown'] as const;
export type ModelFamily = (typeof MODEL_FAMILIES)[number];

export interface ModelFileInfo {
  path: string;
  format: ModelFormat;
  size: number;
  /** Tensor names, where the format lists them without unpickling (safetensors, gguf). */
  tensorNames?: string[];
  /** Tensor names mapped to shapes, in the file's own order of dimensions. */
  shapes?: Map<string, number[]>;
  /** Bytes of tensor data per storage type, in the engine's spelling (f16, bf16, q8_0, q4_K...). */
  weightBytes?: Map<string, number>;
  /** Tensor names mapped to their storage type, same spelling as weightBytes (safetensors, gguf). */
  types?: Map<string, string>;
}

const MAX_HEADER = 100 * 1024 * 1024;

/**
 * Checks that a file is a whole model before the engine sees it: readable, a known format by its magic
 * bytes, a header that parses, and every tensor's data inside the file. The engine trusts its input;
 * a truncated file must fail here, with a message, rather than there.
 */
export async function inspectModelFile(file: string, role = 'model'): Promise<ModelFileInfo> {
  const fail = (why: string, cause?: unknown) => new ModelFileError(file, `${role} file ${file}: ${why}`, { cause });
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw fail(code === 'ENOENT' ? 'not found' : code === 'EACCES' ? 'permission denied' : `cannot be opened (${code})`, err);
  }
  try {
    const stat = await handle.stat();
    if (stat.isDirectory()) return await inspectDiffusersFolder(file, fail);
    if (!stat.isFile()) throw fail('is not a regular file');
    const read = async (position: number, length: number): Promise<Buffer> => {
      const buf = Buffer.alloc(length);
      const { bytesRead } = await handle.read(buf, 0, length, position);
      return buf.subarray(0, bytesRead);
    };
    const magic = await read(0, 8);
    if (magic.length < 8) throw fail(`is only ${stat.size} bytes: not a model`);
    if (magic.toString('latin1', 0, 4) === 'GGUF') return await inspectGguf(file, stat.size, read, fail);
    if (magic[0] === 0x50 && magic[1] === 0x4b) return await inspectZip(file, stat.size, read, fail);
    if (magic[0] === 0x80 && magic[1] >= 2 && magic[1] <= 5) {
      await refuseUnsafePickle(() => scanLegacyCheckpoint(read, stat.size), fail);
      return { path: file, format: 'ckpt', size: stat.size };
    }
    const headerLength = Number(magic.readBigUInt64LE(0));
    if (headerLength > 1 && headerLength < MAX_HEADER) {
      const first = await read(8, 1);
      if (first.toString() === '{') return await inspectSafetensors(file, stat.size, headerLength, read, fail);
    }
    throw fail(`is not a model: unrecognized format (expected .safetensors, .gguf or .ckpt; ${path.extname(file) || 'no extension'})`);
  } finally {
    await handle.close();
  }
}

/** A diffusers folder: unet/ (required), vae/ and text_encoder/ (optional), each a checked .safetensors. */
async function inspectDiffusersFolder(dir: string, fail: Fail): Promise<ModelFileInfo> {
  const parts = [
    ['unet', 'unet/diffusion_pytorch_model.safetensors'],
    ['vae', 'vae/diffusion_pytorch_model.safetensors'],
    ['text_encoder', 'text_encoder/model.safetensors'],
    ['text_encoder_2', 'text_encoder_2/model.safetensors'],
  ] as const;
  const shapes = new Map<string, number[]>();
  const weightBytes = new Map<string, number>();
  const types = new Map<string, string>();
  let size = 0;
  for (const [part, file] of parts) {
    let info: ModelFileInfo;
    try {
      info = await inspectModelFile(path.join(dir, file), `${part} model`);
    } catch (err) {
      if (part !== 'unet' && (err as ModelFileError).message.endsWith(': not found')) continue;
      if (part === 'unet' && (err as ModelFileError).message.endsWith(': not found')) {
        throw fail('is a folder but not a diffusers model (no unet/diffusion_pytorch_model.safetensors)', err);
      }
      throw err;
    }
    size += info.size;
    for (const [name, shape] of info.shapes ?? []) shapes.set(`${part}.${name}`, shape);
    for (const [type, bytes] of info.weightBytes ?? []) addBytes(weightBytes, type, bytes);
    for (const [name, type] of info.types ?? []) types.set(`${part}.${name}`, type);
  }
  return { path: dir, format: 'diffusers', size, tensorNames: [...shapes.keys()], shapes, weightBytes, types };
}

type Reader = (position: number, length: number) => Promise<Buffer>;
type Fail = (why: string, cause?: unknown) => ModelFileError;

const addBytes = (tally: Map<string, number>, type: string, bytes: number) => tally.set(type, (tally.get(type) ?? 0) + bytes);

const SAFETENSORS_DTYPE_BYTES: Record<string, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1, F8_E4M3: 1, F8_E5M2: 1,
};

async function inspectSafetensors(file: string, size: number, headerLength: number, read: Reader, fail: Fail): Promise<ModelFileInfo> {
  if (8 + headerLength > size) throw fail(`truncated header: it declares ${headerLength} bytes, the file has ${size - 8}`);
  const raw = await read(8, headerLength);
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  try {
    header = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    throw fail('corrupt safetensors header (not valid JSON)', err);
  }
  const dataSize = size - 8 - headerLength;
  const shapes = new Map<string, number[]>();
  const weightBytes = new Map<string, number>();
  const types = new Map<string, string>();
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    if (!t || !Array.isArray(t.shape) || !Array.isArray(t.data_offsets)) throw fail(`corrupt safetensors header entry for ${name}`);
    const [begin, end] = t.data_offsets;
    if (end > dataSize) {
      throw fail(`truncated data: tensor ${name} ends at byte ${end} of the data section, which has only ${dataSize} bytes`);
    }
    const width = SAFETENSORS_DTYPE_BYTES[t.dtype];
    if (width !== undefined && (end - begin) !== width * t.shape.reduce((a, b) => a * b, 1)) {
      throw fail(`corrupt safetensors header: tensor ${name} has ${end - begin} bytes for shape [${t.shape}] of ${t.dtype}`);
    }
    shapes.set(name, t.shape);
    addBytes(weightBytes, String(t.dtype).toLowerCase(), end - begin);
    types.set(name, String(t.dtype).toLowerCase());
  }
  if (shapes.size === 0) throw fail('holds no tensors');
  return { path: file, format: 'safetensors', size, tensorNames: [...shapes.keys()], shapes, weightBytes, types };
}

async function inspectZip(file: string, size: number, read: Reader, fail: Fail): Promise<ModelFileInfo> {
  // A whole zip ends with its end-of-central-directory record (PK\5\6) within the last 64 KiB + 22 bytes.
  const tailLength = Math.min(size, 65536 + 22);
  const tail = await read(size - tailLength, tailLength);
  if (tail.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06])) < 0) {
    throw fail('truncated or corrupt checkpoint: the zip archive has no end-of-central-directory record');
  }
  await refuseUnsafePickle(async () => scanPickle(await zipDataPickle(read, size)), fail);
  return { path: file, format: 'ckpt', size };
}

async function refuseUnsafePickle(scan: () => Promise<unknown>, fail: Fail): Promise<void> {
  try {
    await scan();
  } catch (err) {
    if (err instanceof UnsafePickleError) throw fail(`refused: its pickle is unsafe or unreadable (${err.message})`, err);
    throw fail(`corrupt checkpoint (${(err as Error).message})`, err);
  }
}

// Bytes per block and elements per block of the ggml types gguf files use (ggml's block layouts, as
// @huggingface/gguf also tabulates them; the i-quants, ternary and fp4 types included).
const GGML_TYPE_SIZES: Record<number, [number, number]> = {
  0: [4, 1], 1: [2, 1], 2: [18, 32], 3: [20, 32], 6: [22, 32], 7: [24, 32], 8: [34, 32], 9: [36, 32],
  10: [84, 256], 11: [110, 256], 12: [144, 256], 13: [176, 256], 14: [210, 256], 15: [292, 256],
  16: [66, 256], 17: [74, 256], 18: [98, 256], 19: [50, 256], 20: [18, 32], 21: [110, 256], 22: [82, 256], 23: [136, 256],
  24: [1, 1], 25: [2, 1], 26: [4, 1], 27: [8, 1], 28: [8, 1], 29: [56, 256], 30: [2, 1],
  34: [54, 256], 35: [66, 256], 39: [17, 32], 40: [36, 64],
};

/** Names of the ggml types, as the engine's weight types spell them. */
const GGML_TYPE_NAMES: Record<number, string> = {
  0: 'f32', 1: 'f16', 2: 'q4_0', 3: 'q4_1', 6: 'q5_0', 7: 'q5_1', 8: 'q8_0', 9: 'q8_1', 10: 'q2_K', 11: 'q3_K', 12: 'q4_K',
  13: 'q5_K', 14: 'q6_K', 15: 'q8_K', 16: 'iq2_xxs', 17: 'iq2_xs', 18: 'iq3_xxs', 19: 'iq1_s', 20: 'iq4_nl', 21: 'iq3_s',
  22: 'iq2_s', 23: 'iq4_xs', 24: 'i8', 25: 'i16', 26: 'i32', 27: 'i64', 28: 'f64', 29: 'iq1_m', 30: 'bf16', 34: 'tq1_0',
  35: 'tq2_0', 39: 'mxfp4', 40: 'nvfp4',
};

async function inspectGguf(file: string, size: number, read: Reader, fail: Fail): Promise<ModelFileInfo> {
  // Header and metadata are read through a growing window; a file that ends inside them is truncated.
  let window = await read(0, Math.min(size, 1 << 20));
  let pos = 0;
  const need = async (n: number) => {
    if (pos + n <= window.length) return;
    if (pos + n > size) throw fail('truncated header (the file ends inside the gguf metadata)');
    window = await read(0, Math.min(size, Math.max(window.length * 2, pos + n)));
  };
  const u32 = async () => (await need(4), (pos += 4), window.readUInt32LE(pos - 4));
  const u64 = async () => (await need(8), (pos += 8), Number(window.readBigUInt64LE(pos - 8)));
  const str = async () => {
    const n = await u64();
    if (n > MAX_HEADER) throw fail('corrupt gguf header (string length out of range)');
    await need(n);
    pos += n;
    return window.toString('utf8', pos - n, pos);
  };
  const scalarBytes: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
  const skipValue = async (type: number): Promise<void> => {
    if (type === 8) return void (await str());
    if (type === 9) {
      const inner = await u32();
      const count = await u64();
      if (inner === 8) for (let i = 0; i < count; i++) await str();
      else if (scalarBytes[inner] !== undefined) (await need(count * scalarBytes[inner]), (pos += count * scalarBytes[inner]));
      else throw fail(`corrupt gguf metadata (array of type ${inner})`);
      return;
    }
    if (scalarBytes[type] === undefined) throw fail(`corrupt gguf metadata (value type ${type})`);
    await need(scalarBytes[type]);
    pos += scalarBytes[type];
  };

  pos = 4;
  const version = await u32();
  if (version < 1 || version > 3) throw fail(`unsupported gguf version ${version}`);
  const tensorCount = await u64();
  const kvCount = await u64();
  let alignment = 32;
  for (let i = 0; i < kvCount; i++) {
    const key = await str();
    const type = await u32();
    if (key === 'general.alignment' && type === 4) alignment = await u32();
    else await skipValue(type);
  }
  const shapes = new Map<string, number[]>();
  const weightBytes = new Map<string, number>();
  const types = new Map<string, string>();
  let dataEnd = 0;
  for (let i = 0; i < tensorCount; i++) {
    const name = await str();
    const dims = await u32();
    if (dims > 8) throw fail(`corrupt gguf tensor info for ${name}`);
    const shape: number[] = [];
    for (let d = 0; d < dims; d++) shape.push(await u64());
    const type = await u32();
    const offset = await u64();
    const ts = GGML_TYPE_SIZES[type];
    if (ts) {
      const bytes = (shape.reduce((a, b) => a * b, 1) / ts[1]) * ts[0];
      dataEnd = Math.max(dataEnd, offset + bytes);
      addBytes(weightBytes, GGML_TYPE_NAMES[type], bytes);
    }
    shapes.set(name, shape);
    types.set(name, GGML_TYPE_NAMES[type] ?? `ggml type ${type}`);
  }
  const dataStart = Math.ceil(pos / alignment) * alignment;
  if (dataStart + dataEnd > size) {
    throw fail(`truncated data: tensors need ${dataStart + dataEnd} bytes, the file has ${size}`);
  }
  return { path: file, format: 'gguf', size, tensorNames: [...shapes.keys()], shapes, weightBytes, types };
}

/**
 * The storage type of most of the weight bytes (f16, bf16, f32, q8_0, q4_K...), as the header lists it;
 * undefined where the format hides it (pickled .ckpt/.pth).
 */
export function dominantWeightType(info: ModelFileInfo): string | undefined {
  let best: [string, number] | undefined;
  for (const entry of info.weightBytes ?? []) if (!best || entry[1] > best[1]) best = entry;
  return best?.[0];
}

/** Text-conditioning width -> family: the CLIP token width, or the cross-attention context width. */
const FAMILY_BY_WIDTH: Record<number, ModelFamily> = { 768: 'sd1', 1024: 'sd2', 2048: 'sdxl' };

/** The input width (last PyTorch dimension; first ggml dimension) of the first tensor whose name matches. */
function inputWidth(info: ModelFileInfo, name: RegExp): number | undefined {
  const entry = [...(info.shapes?.entries() ?? [])].find(([n]) => name.test(n));
  if (!entry) return undefined;
  return info.format === 'gguf' ? entry[1][0] : entry[1][entry[1].length - 1];
}

function familyByWidth(info: ModelFileInfo, name: RegExp, widths: Record<number, ModelFamily> = FAMILY_BY_WIDTH): ModelFamily {
  const width = inputWidth(info, name);
  return (width !== undefined && widths[width]) || 'unknown';
}

/** The model family, from tensor names alone; 'unknown' when the format hides them (pickled .ckpt). */
export function detectFamily(info: ModelFileInfo): ModelFamily {
  const names = info.tensorNames;
  if (!names) return 'unknown';
  const has = (part: string) => names.some((n) => n.includes(part));
  // The engine's own markers: FLUX.2's shared modulation, Chroma's guidance approximator, Qwen-Image's
  // per-stream modulation, Z-Image's caption embedder; FLUX.1 is what else has double and single blocks.
  if (has('double_stream_modulation_img.')) return 'flux2';
  if (has('distilled_guidance_layer.')) return 'chroma';
  if (has('double_blocks.') || has('single_blocks.')) return 'flux';
  if (has('transformer_blocks.0.img_mod.1.')) return 'qwen-image';
  if (has('cap_embedder.0.')) return 'z-image';
  if (has('joint_blocks.')) return 'sd3';
  if (has('blocks.0.cross_attn.norm_k.')) return 'wan';
  // single files: the second text encoder or the UNet's pooled-text + size embedding; diffusers folders: the latter's diffusers name
  if (has('conditioner.embedders.1') || has('label_emb.0.0') || has('unet.add_embedding.linear_1.')) return 'sdxl';
  const byToken = familyByWidth(info, /token_embedding\.weight$/, { 768: 'sd1', 1024: 'sd2' });
  if (byToken !== 'unknown') return byToken;
  if (has('model.diffusion_model.input_blocks.') || has('unet.down_blocks.')) return 'sd1';
  return 'unknown';
}

/** The family a ControlNet (or UNet) was trained for, from its cross-attention context width. */
export function contextFamily(info: ModelFileInfo): ModelFamily {
  return familyByWidth(info, /attn2\.to_k\.weight$/);
}

/**
 * The family a LoRA was trained for, from the input width of its cross-attention key projection
 * (kohya `..._attn2_to_k.lora_down.weight`, peft `...attn2.to_k.lora_A.weight`).
 */
export function loraFamily(info: ModelFileInfo): ModelFamily {
  return familyByWidth(info, /attn2[._]to_k\.(lora_down|lora_A)\.weight$/);
}

/**
 * What a Wan DiT does with images, from its patch embedding's input channels: 16 latent channels only is
 * text to video; 36 (16 + 4 mask + 16 image) is image to video with a CLIP vision encoder; 48 is Wan2.2 TI2V 5B
 * (text and image to video, over the Wan 2.2 VAE's 48-channel latent).
 */
export type WanVariant = 't2v' | 'i2v' | 'ti2v';

export function wanVariant(info: ModelFileInfo): WanVariant | undefined {
  const entry = [...(info.shapes?.entries() ?? [])].find(([n]) => n.endsWith('patch_embedding.weight'));
  if (!entry) return undefined;
  const inChannels = info.format === 'gguf' ? entry[1][entry[1].length - 2] : entry[1][1];
  return inChannels === 16 ? 't2v' : inChannels === 36 ? 'i2v' : inChannels === 48 ? 'ti2v' : undefined;
}

/**
 * Input channels of a FLUX.1 DiT's `img_in` (patchified: 64 for 16 latent channels in 2x2 patches; FLUX.1 Fill
 * 384, with the masked image and the mask; FLUX.1 Canny/Depth 128, with the control image).
 */
export function fluxInputChannels(info: ModelFileInfo): number | undefined {
  return inputWidth(info, /(^|\.)img_in\.weight$/);
}

/**
 * Latent channels of a VAE: what its decoder's first conv takes (AutoencoderKL `decoder.conv_in`: 4 for SD 1.x/2.x/
 * SDXL, 16 for SD3 and FLUX.1, 32 for FLUX.2; Wan causal VAE `decoder.conv1`; tiny video autoencoder `decoder.1`).
 */
export function latentChannels(info: ModelFileInfo): number | undefined {
  const names = ['decoder.conv1.weight', 'decoder.1.weight', 'decoder.conv_in.weight', 'first_stage_model.decoder.conv_in.weight'];
  const entry = [...(info.shapes?.entries() ?? [])].find(([n]) => names.includes(n));
  if (!entry) return undefined;
  return info.format === 'gguf' ? entry[1][entry[1].length - 2] : entry[1][1];
}

/** What a model file is for, from its tensor names: the server sorts `--model` files by it. */
export type ModelRole = 'checkpoint' | 'controlnet' | 'upscaler' | 'lora' | 'vae' | 'text-encoder' | 'vision-encoder' | 'unknown';

export function modelRole(info: ModelFileInfo): ModelRole {
  const names = info.tensorNames;
  if (info.format === 'diffusers') return 'checkpoint';
  if (!names) return info.format === 'ckpt' ? 'checkpoint' : 'unknown';
  const has = (part: string) => names.some((n) => n.includes(part));
  if (has('lora_down.') || has('lora_A.') || has('lora_up.')) return 'lora';
  if (has('control_model.') || has('controlnet_cond_embedding.') || has('input_hint_block.')) return 'controlnet';
  if ((has('conv_first.') && has('body.')) || (has('model.0.weight') && has('.sub.'))) return 'upscaler';
  // A text encoder alone (CLIP's token embedding would otherwise read as an SD 1.x/2.x checkpoint).
  if (textEncoderKind(info) !== undefined && !has('diffusion_model.') && !has('first_stage_model.')) return 'text-encoder';
  if (detectFamily(info) !== 'unknown') return 'checkpoint';
  // The separate parts of split checkpoints: a causal 3D VAE (Wan, Qwen-Image), a tiny video autoencoder, an AutoencoderKL.
  if ((has('decoder.head.') && has('encoder.conv1.')) || has('decoder.22.')) return 'vae';
  if (names.includes('decoder.conv_in.weight') && has('decoder.up.')) return 'vae';
  // CLIP vision towers (Wan I2V's clip_vision_h): the HF vision_model or the OpenCLIP visual layout; an LLM's.
  if (has('vision_model.encoder.layers.') || has('visual.transformer.resblocks.') || visionEncoderKind(info) === 'llm') return 'vision-encoder';
  return 'unknown';
}

/**
 * Whose vision tower a file is: an LLM's (Qwen2.5-VL's, as llama.cpp's mmproj `v.blk.N` or the HF `visual.blocks.N`
 * alone: the `llmVision` component) or CLIP's (`clipVision`); undefined for other files.
 */
export function visionEncoderKind(info: ModelFileInfo): 'llm' | 'clip' | undefined {
  const names = info.tensorNames ?? [];
  if (names.some((n) => n.startsWith('v.blk.0.') || /^(visual\.)?blocks\.0\.attn\.qkv\./.test(n) && names.some((m) => m.includes('merger.')))) return 'llm';
  if (names.some((n) => n.includes('vision_model.encoder.layers.') || n.includes('visual.transformer.resblocks.'))) return 'clip';
  return undefined;
}

/** What kind of text encoder a component file is: T5 (SD3, FLUX.1, Chroma, Wan), an LLM (FLUX.2, Z-Image, Qwen-Image) or CLIP. */
export type TextEncoderKind = 't5' | 'llm' | 'clip';

export function textEncoderKind(info: ModelFileInfo): TextEncoderKind | undefined {
  const names = info.tensorNames ?? [];
  const has = (part: string) => names.some((n) => n.includes(part));
  // Hugging Face names, and the llama.cpp names of GGUF conversions (T5: enc.blk.N; decoder LLMs: blk.N).
  if (has('encoder.block.0.layer.0.SelfAttention.') || has('enc.blk.0.')) return 't5';
  if (has('text_model.encoder.layers.0.') || names.some((n) => /^(model\.)?transformer\.resblocks\.0\.attn\./.test(n))) return 'clip';
  if (has('layers.0.self_attn.q_proj.') || names.some((n) => n.startsWith('blk.0.attn_q.'))) return 'llm';
  return undefined;
}
