import fs from 'node:fs';

export type SafetensorsDtype = 'F16' | 'F32';

export interface SafetensorsEntry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  byteLength: number;
}

/**
 * Writes a .safetensors file tensor by tensor, so a multi-gigabyte checkpoint never sits in memory whole.
 * `fill(entry, index)` returns each tensor's bytes, in the order of `entries`.
 */
export function writeSafetensors(
  path: string,
  entries: SafetensorsEntry[],
  fill: (entry: SafetensorsEntry, index: number) => Uint8Array,
  metadata: Record<string, string> = {},
): void {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const e of entries) {
    header[e.name] = { dtype: e.dtype, shape: e.shape, data_offsets: [offset, offset + e.byteLength] };
    offset += e.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8); // data starts 8-byte aligned
  const headerBytes = Buffer.from(json);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(headerBytes.length));

  const tmp = `${path}.${process.pid}.part`;
  const fd = fs.openSync(tmp, 'w');
  try {
    fs.writeSync(fd, length);
    fs.writeSync(fd, headerBytes);
    entries.forEach((e, i) => {
      const bytes = fill(e, i);
      if (bytes.byteLength !== e.byteLength) throw new Error(`tensor ${e.name}: ${bytes.byteLength} bytes, expected ${e.byteLength}`);
      fs.writeSync(fd, bytes);
    });
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, path); // readers never see a half-written file
}
