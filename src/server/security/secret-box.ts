import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { invalidParameter, isString } from '../../util/is.js';
import { PRIVATE_FILE_MODE, restrictFiles } from './file-modes.js';

/** The file, beside the database, that holds the key secrets at rest are encrypted with. */
export const SECRET_KEY_FILE = 'secret-key';
const PREFIX = 'enc:v1:';

/** A secret key given as text (ServerOptions.secretKey, $DIFFUSEKIT_SECRET_KEY): 32 bytes as base64url. */
export function parseSecretKey(value: unknown): Buffer | undefined {
  if (value === undefined) return undefined;
  const text = isString(value) ? value.trim() : '';
  const key = /^[\w-]{43}=?$/.test(text) ? Buffer.from(text, 'base64url') : undefined;
  if (key?.length !== 32) throw invalidParameter('secretKey', '32 bytes as base64url (43 characters; $DIFFUSEKIT_SECRET_KEY)', isString(value) ? `${value.length} characters` : value);
  return key;
}

/**
 * Secrets the server must read back (the keys' webhook secrets: it signs with them) stored encrypted,
 * AES-256-GCM, under a key kept in its own owner-only file. A copy of the database alone (a backup, a
 * support bundle) then holds no usable secret.
 */
export class SecretBox {
  readonly #key: Buffer;

  constructor(key: Buffer) {
    if (key.length !== 32) throw new Error('a SecretBox key is 32 bytes');
    this.#key = key;
  }

  /** The box of a data directory: its key file, created (0600) on first use. */
  static forDataDir(dataDir: string): SecretBox {
    const file = path.join(dataDir, SECRET_KEY_FILE);
    try {
      const key = Buffer.from(fs.readFileSync(file, 'utf8').trim(), 'base64url');
      restrictFiles(dataDir, [SECRET_KEY_FILE]);
      return new SecretBox(key);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      const key = randomBytes(32);
      // 'wx': two processes starting at once must not each write a key; the loser reads the winner's.
      try {
        fs.writeFileSync(file, `${key.toString('base64url')}\n`, { mode: PRIVATE_FILE_MODE, flag: 'wx' });
      } catch (raced) {
        if ((raced as NodeJS.ErrnoException).code === 'EEXIST') return SecretBox.forDataDir(dataDir);
        throw raced;
      }
      return new SecretBox(key);
    }
  }

  static isSealed(stored: string): boolean {
    return stored.startsWith(PREFIX);
  }

  seal(plain: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    const sealed = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return `${PREFIX}${iv.toString('base64url')}.${cipher.getAuthTag().toString('base64url')}.${sealed.toString('base64url')}`;
  }

  /** The plain text of a sealed value; a value stored before encryption (not sealed) as it is. */
  open(stored: string): string {
    if (!SecretBox.isSealed(stored)) return stored;
    const [iv, tag, sealed] = stored.slice(PREFIX.length).split('.').map((part) => Buffer.from(part, 'base64url'));
    const decipher = createDecipheriv('aes-256-gcm', this.#key, iv!);
    decipher.setAuthTag(tag!);
    return Buffer.concat([decipher.update(sealed!), decipher.final()]).toString('utf8');
  }
}
