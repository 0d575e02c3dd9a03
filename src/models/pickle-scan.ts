import zlib from 'node:zlib';

// A pickle can run any Python callable while it loads. PyTorch checkpoints only need the few globals
// that rebuild tensors and containers, so a .ckpt whose pickle names anything else is refused before the
// engine reads it (the engine interprets pickles itself; this keeps files made to attack Python loaders,
// and files we cannot account for, out).

/** Globals a PyTorch / Lightning checkpoint may reference (module.name). */
const ALLOWED_GLOBALS = new Set([
  'collections.OrderedDict',
  'torch._utils._rebuild_tensor',
  'torch._utils._rebuild_tensor_v2',
  'torch._utils._rebuild_parameter',
  'torch._utils._rebuild_parameter_with_state',
  'torch._utils._rebuild_device_tensor_from_numpy',
  'torch.nn.modules.container.ParameterDict',
  'torch.Size',
  'torch.device',
  'torch.float16',
  'torch.float32',
  'torch.bfloat16',
  'numpy.core.multiarray.scalar',
  'numpy.core.multiarray._reconstruct',
  'numpy._core.multiarray.scalar',
  'numpy.dtype',
  'numpy.ndarray',
  '_codecs.encode',
  '__builtin__.set',
  'builtins.set',
]);
const ALLOWED_PREFIXES = ['pytorch_lightning.callbacks.', 'torch.storage.', 'lightning_fabric.'];
const STORAGE = /^torch\.[A-Za-z0-9]*Storage$/;

export function isAllowedGlobal(name: string): boolean {
  return ALLOWED_GLOBALS.has(name) || STORAGE.test(name) || ALLOWED_PREFIXES.some((p) => name.startsWith(p));
}

export class UnsafePickleError extends Error {}

/** Bytes of each argument-carrying opcode: a fixed size, or a length prefix of 1, 4 or 8 bytes. */
const FIXED: Record<number, number> = {
  0x4a: 4, 0x4b: 1, 0x4d: 2, 0x47: 8, 0x68: 1, 0x6a: 4, 0x71: 1, 0x72: 4, 0x80: 1, 0x95: 8,
};
const PREFIXED: Record<number, 1 | 4 | 8> = {
  0x54: 4, 0x55: 1, 0x58: 4, 0x8a: 1, 0x8b: 4, 0x8c: 1, 0x8d: 8, 0x8e: 8, 0x42: 4, 0x43: 1, 0x96: 8,
};
const LINE = new Set([0x49, 0x4c, 0x46, 0x53, 0x56, 0x50, 0x67, 0x70]); // INT LONG FLOAT STRING UNICODE PERSID GET PUT
const STRING_OPS = new Set([0x58, 0x8c, 0x8d, 0x56]); // unicode pushes, for STACK_GLOBAL
/** Opcodes without arguments: stack and container operations, constants, memo, object building. */
const NO_ARGUMENT = new Set([
  ...'()]}RbeastuN012ldoQ'.split('').map((c) => c.charCodeAt(0)),
  0x81, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8f, 0x90, 0x91, 0x92, 0x94, 0x97, 0x98,
]);

/**
 * Walks the opcodes of the pickle that starts at `start` and checks every global it imports.
 * Returns the offset after its STOP. Throws UnsafePickleError on a refused global or an unknown opcode.
 */
export function scanPickle(buf: Buffer, start = 0): number {
  let pos = start;
  const recent: string[] = []; // last unicode strings pushed (module and name for STACK_GLOBAL)
  const line = () => {
    const end = buf.indexOf(0x0a, pos);
    if (end < 0) throw new UnsafePickleError('truncated pickle');
    const text = buf.toString('latin1', pos, end);
    pos = end + 1;
    return text;
  };
  const check = (name: string) => {
    if (!isAllowedGlobal(name)) throw new UnsafePickleError(`it imports ${name}, which a checkpoint does not need`);
  };
  while (pos < buf.length) {
    const op = buf[pos++];
    if (op === 0x2e) return pos; // STOP
    if (op === 0x63 || op === 0x69) {
      const mod = line(); // GLOBAL / INST: "module\nname\n"
      check(`${mod}.${line()}`);
    } else if (op === 0x93) {
      if (recent.length < 2) throw new UnsafePickleError('it imports a global whose name cannot be read');
      check(`${recent[recent.length - 2]}.${recent[recent.length - 1]}`);
    } else if (op === 0x82 || op === 0x83 || op === 0x84) {
      throw new UnsafePickleError('it imports globals through the extension registry');
    } else if (LINE.has(op)) {
      const text = line();
      if (op === 0x56) recent.push(text);
    } else if (FIXED[op] !== undefined) {
      pos += FIXED[op];
    } else if (PREFIXED[op] !== undefined) {
      const width = PREFIXED[op];
      if (pos + width > buf.length) break;
      const n = width === 1 ? buf[pos] : width === 4 ? buf.readUInt32LE(pos) : Number(buf.readBigUInt64LE(pos));
      pos += width;
      if (STRING_OPS.has(op)) recent.push(buf.toString('utf8', pos, pos + n));
      pos += n;
    } else if (!NO_ARGUMENT.has(op)) {
      throw new UnsafePickleError(`unknown pickle opcode 0x${op.toString(16)} at byte ${pos - 1}`);
    }
    if (pos > buf.length) break;
  }
  throw new UnsafePickleError('truncated pickle');
}

type Reader = (position: number, length: number) => Promise<Buffer>;

/** Finds `data.pkl` in a PyTorch zip checkpoint of `size` bytes and returns its bytes. */
export async function zipDataPickle(read: Reader, size: number): Promise<Buffer> {
  const tailLength = Math.min(size, 65536 + 22);
  const tail = await read(size - tailLength, tailLength);
  const eocd = tail.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  let count = tail.readUInt16LE(eocd + 10);
  let directorySize = tail.readUInt32LE(eocd + 12);
  let offset = tail.readUInt32LE(eocd + 16);
  if (offset === 0xffffffff || count === 0xffff || directorySize === 0xffffffff) {
    // zip64: a locator just before the end record points at the zip64 end record
    const locator = tail.lastIndexOf(Buffer.from([0x50, 0x4b, 0x06, 0x07]), eocd);
    const record = await read(Number(tail.readBigUInt64LE(locator + 8)), 56);
    count = Number(record.readBigUInt64LE(32));
    directorySize = Number(record.readBigUInt64LE(40));
    offset = Number(record.readBigUInt64LE(48));
  }
  const directory = await read(offset, directorySize);
  for (let i = 0, p = 0; i < count && p + 46 <= directory.length; i++) {
    const nameLength = directory.readUInt16LE(p + 28);
    const extraLength = directory.readUInt16LE(p + 30);
    const commentLength = directory.readUInt16LE(p + 32);
    const name = directory.toString('utf8', p + 46, p + 46 + nameLength);
    if (name.endsWith('data.pkl')) {
      const method = directory.readUInt16LE(p + 10);
      const compressed = directory.readUInt32LE(p + 20);
      const local = directory.readUInt32LE(p + 42);
      const header = await read(local, 30);
      const dataStart = local + 30 + header.readUInt16LE(26) + header.readUInt16LE(28);
      const raw = await read(dataStart, compressed);
      return method === 8 ? zlib.inflateRawSync(raw) : raw;
    }
    p += 46 + nameLength + extraLength + commentLength;
  }
  throw new UnsafePickleError('the archive has no data.pkl: not a PyTorch checkpoint');
}

/** The legacy (pre-zip) torch.save format: five pickles in a row, then raw storage bytes. */
export async function scanLegacyCheckpoint(read: Reader, size: number): Promise<void> {
  const head = await read(0, Math.min(size, 256 * 1024 * 1024));
  let pos = 0;
  for (let i = 0; i < 5; i++) pos = scanPickle(head, pos);
}
