import fs from 'node:fs';

/**
 * Writes a minimal GGUF v3 file: one string metadata key and tensors (for inspector tests): f32 unless a tensor
 * gives another ggml type id with its data size in bytes.
 */
export function writeGguf(file: string, tensors: { name: string; shape: number[]; type?: { id: number; bytes: number } }[], dropBytes = 0): void {
  const parts: Buffer[] = [];
  const u32 = (v: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); parts.push(b); };
  const u64 = (v: number) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); parts.push(b); };
  const str = (s: string) => { u64(Buffer.byteLength(s)); parts.push(Buffer.from(s)); };
  parts.push(Buffer.from('GGUF'));
  u32(3);
  u64(tensors.length);
  u64(1);
  str('general.architecture');
  u32(8);
  str('test');
  let offset = 0;
  for (const t of tensors) {
    str(t.name);
    u32(t.shape.length);
    t.shape.forEach((d) => u64(d));
    u32(t.type?.id ?? 0); // f32 unless given
    u64(offset);
    offset += Math.ceil((t.type?.bytes ?? t.shape.reduce((a, b) => a * b, 1) * 4) / 32) * 32;
  }
  const header = Buffer.concat(parts);
  const padded = Math.ceil(header.length / 32) * 32;
  const out = Buffer.alloc(padded + offset);
  header.copy(out);
  fs.writeFileSync(file, out.subarray(0, out.length - dropBytes));
}
