import fs from 'node:fs';
import type { TensorSpec } from '../../src/models/tensor-spec.js';

/**
 * A .safetensors file with a real layout's header (names, shapes, f16) whose data is a hole: the file has its
 * full size on paper and takes a few kB of disk. For what reads headers only (family, role, variant, component
 * checks); the engine never loads it.
 */
export function writeSparseSafetensors(file: string, tensors: readonly Pick<TensorSpec, 'name' | 'shape'>[]): void {
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const t of tensors) {
    const bytes = t.shape.reduce((a, b) => a * b, 1) * 2;
    header[t.name] = { dtype: 'F16', shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  const json = Buffer.from(JSON.stringify(header));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  fs.writeFileSync(file, Buffer.concat([length, json]));
  fs.truncateSync(file, 8 + json.length + offset);
}
