// float32 -> IEEE binary16 conversion by table lookup (round toward zero on the mantissa), fast enough
// to write billions of values. Node 20 has no Float16Array.
const baseTable = new Uint16Array(512);
const shiftTable = new Uint8Array(512);
for (let i = 0; i < 256; i++) {
  const e = i - 127;
  let base: number;
  let shift: number;
  if (e < -24) {
    base = 0x0000;
    shift = 24;
  } else if (e < -14) {
    base = 0x0400 >> (-e - 14);
    shift = -e - 1;
  } else if (e <= 15) {
    base = (e + 15) << 10;
    shift = 13;
  } else if (e < 128) {
    base = 0x7c00;
    shift = 24;
  } else {
    base = 0x7c00;
    shift = 13;
  }
  baseTable[i] = base;
  baseTable[i | 0x100] = base | 0x8000;
  shiftTable[i] = shift;
  shiftTable[i | 0x100] = shift;
}

/** Converts `src` into `dst` (same length) as float16 bit patterns. */
export function float32ToFloat16(src: Float32Array, dst: Uint16Array): void {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < bits.length; i++) {
    const f = bits[i];
    const idx = f >>> 23;
    dst[i] = baseTable[idx] + ((f & 0x007fffff) >>> shiftTable[idx]);
  }
}
