import fs from 'node:fs';

/** ggml type ids (ggml.h) of the storage types the synthesizer writes. */
export const GGML_TYPE = { F32: 0, F16: 1, Q4_0: 2, Q8_0: 8 } as const;
export type GgufTensorType = keyof typeof GGML_TYPE;

export interface GgufEntry {
  name: string;
  type: GgufTensorType;
  /** PyTorch order (outermost first), as in safetensors; written reversed, in ggml's order. */
  shape: number[];
  byteLength: number;
}

/** Bytes of a tensor of `elements` values stored as `type` (q4_0: 18 bytes per 32, q8_0: 34 per 32). */
export function ggufByteLength(type: GgufTensorType, elements: number): number {
  if (type === 'F32') return elements * 4;
  if (type === 'F16') return elements * 2;
  if (elements % 32 !== 0) throw new Error(`${type} stores blocks of 32 values, not ${elements}`);
  return (elements / 32) * (type === 'Q4_0' ? 18 : 34);
}

const ALIGNMENT = 32; // general.alignment's default

/**
 * Writes a GGUF v3 file tensor by tensor (a quantized 20 B-parameter model never sits in memory whole), with
 * string metadata. `fill(entry, index)` returns each tensor's bytes, in the order of `entries`.
 */
export function writeGguf(
  path: string,
  entries: GgufEntry[],
  fill: (entry: GgufEntry, index: number) => Uint8Array,
  metadata: Record<string, string> = {},
): void {
  const parts: Buffer[] = [];
  const u32 = (v: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); parts.push(b); };
  const u64 = (v: number) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); parts.push(b); };
  const str = (s: string) => { u64(Buffer.byteLength(s)); parts.push(Buffer.from(s)); };
  const GGUF_STRING = 8;
  parts.push(Buffer.from('GGUF'));
  u32(3);
  u64(entries.length);
  u64(Object.keys(metadata).length);
  for (const [key, value] of Object.entries(metadata)) {
    str(key);
    u32(GGUF_STRING);
    str(value);
  }
  const padTo = (n: number) => Math.ceil(n / ALIGNMENT) * ALIGNMENT;
  let offset = 0;
  for (const e of entries) {
    str(e.name);
    u32(e.shape.length);
    for (const d of [...e.shape].reverse()) u64(d);
    u32(GGML_TYPE[e.type]);
    u64(offset);
    offset = padTo(offset + e.byteLength);
  }
  const header = Buffer.concat(parts);

  const tmp = `${path}.${process.pid}.part`;
  const fd = fs.openSync(tmp, 'w');
  try {
    fs.writeSync(fd, header);
    fs.writeSync(fd, Buffer.alloc(padTo(header.length) - header.length));
    entries.forEach((e, i) => {
      const bytes = fill(e, i);
      if (bytes.byteLength !== e.byteLength) throw new Error(`tensor ${e.name}: ${bytes.byteLength} bytes, expected ${e.byteLength}`);
      fs.writeSync(fd, bytes);
      const pad = padTo(e.byteLength) - e.byteLength;
      if (pad) fs.writeSync(fd, Buffer.alloc(pad));
    });
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, path); // readers never see a half-written file
}
