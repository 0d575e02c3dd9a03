import fs from 'node:fs';
import path from 'node:path';
import { cacheDir } from '../../src/util/cache.js';
import { xorshift32 } from '../../src/util/prng.js';

/**
 * Writes a tiny language model in GGUF with the real llama architecture (token embedding, RMS-normed attention
 * with rotary positions and grouped KV heads, SwiGLU feed-forward, output head) and the real tokenizer metadata
 * of a SentencePiece llama vocabulary (tokens, scores, token types, byte fallback, BOS/EOS, a ChatML chat
 * template), with random but tame weights. llama.cpp (through node-llama-cpp) loads and runs it like any model;
 * what it writes is noise, which is all the prompt enhancer's plumbing tests need.
 */

/** Bump when the written bytes change, so cached files are made anew. */
const GENERATOR_VERSION = 1;

const DIMS = { embedding: 64, layers: 2, feedForward: 128, heads: 4, kvHeads: 2, context: 2048 };

// GGUF value types.
const UINT32 = 4;
const INT32 = 5;
const FLOAT32 = 6;
const STRING = 8;
const ARRAY = 9;
// llama.cpp token types.
const NORMAL = 1;
const UNKNOWN = 2;
const CONTROL = 3;
const BYTE = 6;

type Meta = [key: string, type: number, value: unknown, itemType?: number];

function vocabulary(): { tokens: string[]; types: number[]; scores: number[] } {
  const tokens = ['<unk>', '<s>', '</s>', '<|im_start|>', '<|im_end|>'];
  const types = [UNKNOWN, CONTROL, CONTROL, CONTROL, CONTROL];
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
    types.push(BYTE);
  }
  const words = ['▁', ...'abcdefghijklmnopqrstuvwxyz'.split(''), ...'abcdefghijklmnopqrstuvwxyz'.split('').map((c) => `▁${c}`),
    '▁the', '▁of', '▁and', '▁in', '▁with', '▁light', '▁cat', '▁dog', '▁house', '▁sky', '▁red', '▁blue', '▁detailed', ',', '.'];
  for (const w of new Set(words)) {
    tokens.push(w);
    types.push(NORMAL);
  }
  // SentencePiece merges by score: longer pieces first.
  const scores = tokens.map((t, i) => (types[i] === NORMAL ? -1000 + t.length * 10 - i / 1000 : 0));
  return { tokens, types, scores };
}

const CHATML = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

function tensors(vocab: number): { name: string; shape: number[]; norm?: boolean }[] {
  const { embedding: e, layers, feedForward: f, heads, kvHeads } = DIMS;
  const kv = (e / heads) * kvHeads;
  const list: { name: string; shape: number[]; norm?: boolean }[] = [{ name: 'token_embd.weight', shape: [e, vocab] }];
  for (let i = 0; i < layers; i++) {
    list.push(
      { name: `blk.${i}.attn_norm.weight`, shape: [e], norm: true },
      { name: `blk.${i}.attn_q.weight`, shape: [e, e] },
      { name: `blk.${i}.attn_k.weight`, shape: [e, kv] },
      { name: `blk.${i}.attn_v.weight`, shape: [e, kv] },
      { name: `blk.${i}.attn_output.weight`, shape: [e, e] },
      { name: `blk.${i}.ffn_norm.weight`, shape: [e], norm: true },
      { name: `blk.${i}.ffn_gate.weight`, shape: [e, f] },
      { name: `blk.${i}.ffn_up.weight`, shape: [e, f] },
      { name: `blk.${i}.ffn_down.weight`, shape: [f, e] },
    );
  }
  list.push({ name: 'output_norm.weight', shape: [e], norm: true }, { name: 'output.weight', shape: [e, vocab] });
  return list;
}

class Writer {
  readonly parts: Buffer[] = [];
  u32(v: number): void { const b = Buffer.alloc(4); b.writeUInt32LE(v); this.parts.push(b); }
  i32(v: number): void { const b = Buffer.alloc(4); b.writeInt32LE(v); this.parts.push(b); }
  f32(v: number): void { const b = Buffer.alloc(4); b.writeFloatLE(v); this.parts.push(b); }
  u64(v: number): void { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); this.parts.push(b); }
  str(s: string): void { this.u64(Buffer.byteLength(s)); this.parts.push(Buffer.from(s, 'utf8')); }
  value(type: number, v: unknown): void {
    if (type === UINT32) this.u32(v as number);
    else if (type === INT32) this.i32(v as number);
    else if (type === FLOAT32) this.f32(v as number);
    else if (type === STRING) this.str(v as string);
    else throw new Error(`unsupported GGUF type ${type}`);
  }
}

/** The synthetic model's path (in the cache, made once per generator version and seed). */
export function synthesizeLlamaGguf(seed = 0): string {
  const file = cacheDir('models', `tiny-llama-v${GENERATOR_VERSION}-s${seed}.gguf`);
  if (fs.existsSync(file)) return file;
  const { tokens, types, scores } = vocabulary();
  const { embedding, layers, feedForward, heads, kvHeads, context } = DIMS;
  const meta: Meta[] = [
    ['general.architecture', STRING, 'llama'],
    ['general.name', STRING, 'diffusekit tiny llama (random weights)'],
    ['general.alignment', UINT32, 32],
    ['llama.context_length', UINT32, context],
    ['llama.embedding_length', UINT32, embedding],
    ['llama.block_count', UINT32, layers],
    ['llama.feed_forward_length', UINT32, feedForward],
    ['llama.attention.head_count', UINT32, heads],
    ['llama.attention.head_count_kv', UINT32, kvHeads],
    ['llama.attention.layer_norm_rms_epsilon', FLOAT32, 1e-5],
    ['llama.rope.dimension_count', UINT32, embedding / heads],
    ['llama.rope.freq_base', FLOAT32, 10000],
    ['llama.vocab_size', UINT32, tokens.length],
    ['tokenizer.ggml.model', STRING, 'llama'],
    ['tokenizer.ggml.tokens', ARRAY, tokens, STRING],
    ['tokenizer.ggml.scores', ARRAY, scores, FLOAT32],
    ['tokenizer.ggml.token_type', ARRAY, types, INT32],
    ['tokenizer.ggml.unknown_token_id', UINT32, 0],
    ['tokenizer.ggml.bos_token_id', UINT32, 1],
    ['tokenizer.ggml.eos_token_id', UINT32, 4],
    ['tokenizer.ggml.add_bos_token', 7, true],
    ['tokenizer.chat_template', STRING, CHATML],
  ];
  const layout = tensors(tokens.length);
  const w = new Writer();
  w.parts.push(Buffer.from('GGUF'));
  w.u32(3);
  w.u64(layout.length);
  w.u64(meta.length);
  for (const [key, type, value, itemType] of meta) {
    w.str(key);
    w.u32(type);
    if (type === ARRAY) {
      const items = value as unknown[];
      w.u32(itemType!);
      w.u64(items.length);
      for (const item of items) w.value(itemType!, item);
    } else if (type === 7) {
      w.parts.push(Buffer.from([value ? 1 : 0]));
    } else {
      w.value(type, value);
    }
  }
  let offset = 0;
  const offsets: number[] = [];
  for (const t of layout) {
    w.str(t.name);
    w.u32(t.shape.length);
    for (const d of t.shape) w.u64(d);
    w.u32(0); // F32
    w.u64(offset);
    offsets.push(offset);
    offset += Math.ceil((t.shape.reduce((a, b) => a * b, 1) * 4) / 32) * 32;
  }
  const header = Buffer.concat(w.parts);
  const dataStart = Math.ceil(header.length / 32) * 32;
  const out = Buffer.alloc(dataStart + offset);
  header.copy(out);
  const next = xorshift32(seed + 1);
  layout.forEach((t, i) => {
    const count = t.shape.reduce((a, b) => a * b, 1);
    // Uniform with variance 1/fan_in (fan_in = ne0): activations stay near unit scale through the layers.
    const bound = Math.sqrt(3 / t.shape[0]!);
    for (let k = 0; k < count; k++) {
      const v = t.norm ? 1 : ((next() / 0xffffffff) * 2 - 1) * bound;
      out.writeFloatLE(v, dataStart + offsets[i]! + k * 4);
    }
  });
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, out);
  fs.renameSync(tmp, file);
  return file;
}
