import fs from 'node:fs';
import zlib from 'node:zlib';
import type { SafetensorsEntry } from './safetensors.js';

// Writes PyTorch's zip checkpoint format (torch.save since 1.6): archive/data.pkl holding
// {'state_dict': {name: _rebuild_tensor_v2(persistent storage, 0, shape, stride, False, OrderedDict())}}
// and one stored (uncompressed) entry per tensor under archive/data/. The synthesizer's .ckpt output.

const STORAGE: Record<SafetensorsEntry['dtype'], string> = { F16: 'HalfStorage', F32: 'FloatStorage' };

function pickle(entries: SafetensorsEntry[]): Buffer {
  const parts: Buffer[] = [Buffer.from([0x80, 0x02])];
  const op = (...bytes: number[]) => parts.push(Buffer.from(bytes));
  const str = (s: string) => {
    const b = Buffer.from(s, 'utf8');
    const head = Buffer.alloc(5);
    head[0] = 0x58; // BINUNICODE
    head.writeUInt32LE(b.length, 1);
    parts.push(head, b);
  };
  const int = (v: number) => {
    const b = Buffer.alloc(5);
    b[0] = 0x4a; // BININT
    b.writeInt32LE(v, 1);
    parts.push(b);
  };
  const global = (mod: string, name: string) => parts.push(Buffer.from(`c${mod}\n${name}\n`, 'latin1'));
  op(0x7d, 0x28); // {  MARK
  str('state_dict');
  op(0x7d, 0x28);
  entries.forEach((e, i) => {
    const numel = e.shape.reduce((a, b) => a * b, 1);
    const strides = e.shape.map((_, d) => e.shape.slice(d + 1).reduce((a, b) => a * b, 1));
    str(e.name);
    global('torch._utils', '_rebuild_tensor_v2');
    op(0x28, 0x28); // MARK MARK: (storage tuple)
    str('storage');
    global('torch', STORAGE[e.dtype]);
    str(String(i));
    str('cpu');
    int(numel);
    op(0x74, 0x51); // TUPLE BINPERSID
    int(0);
    op(0x28);
    e.shape.forEach(int);
    op(0x74, 0x28); // TUPLE MARK
    strides.forEach(int);
    op(0x74, 0x89); // TUPLE NEWFALSE
    global('collections', 'OrderedDict');
    op(0x29, 0x52, 0x74, 0x52); // EMPTY_TUPLE REDUCE TUPLE REDUCE
  });
  op(0x75, 0x75, 0x2e); // SETITEMS SETITEMS STOP
  return Buffer.concat(parts);
}

/** Writes a zip of stored (uncompressed) entries, each produced when its turn comes. Limited to 4 GiB (no zip64). */
export function writeStoredZip(path: string, files: Iterable<[name: string, data: () => Uint8Array]>): void {
  const tmp = `${path}.${process.pid}.part`;
  const fd = fs.openSync(tmp, 'w');
  const central: Buffer[] = [];
  let count = 0;
  let offset = 0;
  try {
    for (const [name, produce] of files) {
      const data = produce();
      const nameBytes = Buffer.from(name);
      const crc = zlib.crc32(data) >>> 0;
      const local = Buffer.alloc(30);
      local.writeUInt32LE(0x04034b50, 0);
      local.writeUInt16LE(20, 4);
      local.writeUInt32LE(crc, 14);
      local.writeUInt32LE(data.byteLength, 18);
      local.writeUInt32LE(data.byteLength, 22);
      local.writeUInt16LE(nameBytes.length, 26);
      const entry = Buffer.alloc(46);
      entry.writeUInt32LE(0x02014b50, 0);
      entry.writeUInt16LE(20, 4);
      entry.writeUInt16LE(20, 6);
      entry.writeUInt32LE(crc, 16);
      entry.writeUInt32LE(data.byteLength, 20);
      entry.writeUInt32LE(data.byteLength, 24);
      entry.writeUInt16LE(nameBytes.length, 28);
      entry.writeUInt32LE(offset, 42);
      central.push(entry, nameBytes);
      fs.writeSync(fd, local);
      fs.writeSync(fd, nameBytes);
      fs.writeSync(fd, data);
      offset += 30 + nameBytes.length + data.byteLength;
      count++;
      if (offset > 0xffffffff) throw new RangeError('zip over 4 GiB: write .safetensors instead');
    }
    const directory = Buffer.concat(central);
    const end = Buffer.alloc(22);
    end.writeUInt32LE(0x06054b50, 0);
    end.writeUInt16LE(count, 8);
    end.writeUInt16LE(count, 10);
    end.writeUInt32LE(directory.length, 12);
    end.writeUInt32LE(offset, 16);
    fs.writeSync(fd, directory);
    fs.writeSync(fd, end);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, path);
}

/** Writes a .ckpt in PyTorch's zip format; `fill` returns each tensor's bytes. */
export function writeTorchCheckpoint(path: string, entries: SafetensorsEntry[], fill: (entry: SafetensorsEntry, index: number) => Uint8Array): void {
  writeStoredZip(path, (function* () {
    yield ['archive/data.pkl', () => pickle(entries)] as [string, () => Uint8Array];
    yield ['archive/byteorder', () => Buffer.from('little')];
    for (const [i, e] of entries.entries()) yield [`archive/data/${i}`, () => fill(e, i)];
    yield ['archive/version', () => Buffer.from('3\n')];
  })());
}
