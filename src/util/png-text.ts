import zlib from 'node:zlib';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(zlib.crc32(data, zlib.crc32(head.subarray(4))) >>> 0);
  return Buffer.concat([head, data, crc]);
}

/**
 * Adds a text chunk right after IHDR: tEXt when the text is Latin-1 (what AUTOMATIC1111 writes),
 * iTXt (UTF-8) otherwise, so prompts in any script survive.
 */
export function addPngText(png: Buffer, keyword: string, text: string): Buffer {
  if (!png.subarray(0, 8).equals(PNG_SIGNATURE)) throw new TypeError('not a PNG');
  const ihdrEnd = 8 + 8 + png.readUInt32BE(8) + 4;
  const latin1 = /^[\u0000-\u00ff]*$/.test(text);
  const body = latin1
    ? Buffer.concat([Buffer.from(keyword, 'latin1'), Buffer.from([0]), Buffer.from(text, 'latin1')])
    : Buffer.concat([Buffer.from(keyword, 'latin1'), Buffer.from([0, 0, 0, 0, 0]), Buffer.from(text, 'utf8')]);
  return Buffer.concat([png.subarray(0, ihdrEnd), chunk(latin1 ? 'tEXt' : 'iTXt', body), png.subarray(ihdrEnd)]);
}

/** Reads the text chunks (tEXt and uncompressed iTXt) of a PNG. */
export function readPngText(png: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let pos = 8;
  while (pos + 8 <= png.length) {
    const length = png.readUInt32BE(pos);
    const type = png.toString('latin1', pos + 4, pos + 8);
    const data = png.subarray(pos + 8, pos + 8 + length);
    if (type === 'tEXt') {
      const sep = data.indexOf(0);
      out[data.toString('latin1', 0, sep)] = data.toString('latin1', sep + 1);
    } else if (type === 'iTXt') {
      const sep = data.indexOf(0);
      if (data[sep + 1] === 0) {
        const langEnd = data.indexOf(0, sep + 3);
        const keyEnd = data.indexOf(0, langEnd + 1);
        out[data.toString('latin1', 0, sep)] = data.toString('utf8', keyEnd + 1);
      }
    }
    if (type === 'IEND') break;
    pos += 12 + length;
  }
  return out;
}
