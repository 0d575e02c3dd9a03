// Webhook signatures as the server writes them (src/server/webhooks/signature.ts): the header
// X-Diffusekit-Signature is `sha256=<hex HMAC-SHA256 of the exact body bytes>` under the key's webhook
// secret. Web Crypto, so that it runs in Node, Deno, workers and browsers alike.

export const WEBHOOK_SIGNATURE_HEADER = 'X-Diffusekit-Signature';

const hexBytes = (hex: string): Uint8Array | undefined => {
  if (!/^(?:[0-9a-f]{2})+$/.test(hex)) return undefined;
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return bytes;
};

/**
 * Whether `signature` (the received X-Diffusekit-Signature header) signs `body` under `secret`. Pass the raw
 * body as received (a string or its bytes), before any JSON parsing: re-serialising changes the bytes.
 * The comparison is Web Crypto's HMAC verify, which does not leak the expected value through timing.
 */
export async function verifyWebhook(body: string | Uint8Array, signature: string | null | undefined, secret: string): Promise<boolean> {
  if (typeof signature !== 'string' || typeof secret !== 'string') return false;
  const match = /^sha256=(.+)$/.exec(signature.trim().toLowerCase());
  const mac = match && hexBytes(match[1]!);
  if (!mac || mac.length !== 32) return false;
  const encoder = new TextEncoder();
  const key = await crypto.subtle.importKey('raw', encoder.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
  const bytes = typeof body === 'string' ? encoder.encode(body) : body;
  return crypto.subtle.verify('HMAC', key, mac as Uint8Array<ArrayBuffer>, bytes as Uint8Array<ArrayBuffer>);
}
