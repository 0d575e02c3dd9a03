import { createHmac, timingSafeEqual } from 'node:crypto';

/** The request header that carries a webhook's signature: `sha256=<hex HMAC-SHA256 of the body>`. */
export const WEBHOOK_SIGNATURE_HEADER = 'X-Diffusekit-Signature';

/** The request header that names the job a webhook reports on. */
export const WEBHOOK_JOB_HEADER = 'X-Diffusekit-Job';

/** The signature header's value for `body`: HMAC-SHA256 of its exact bytes (UTF-8 for a string) under `secret`. */
export function signWebhookBody(body: string | Buffer, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/**
 * Whether `header` (the received X-Diffusekit-Signature value) is the signature of `body` under `secret`. For
 * receivers: pass the raw body bytes as received, before any JSON parsing, since re-serialising changes them.
 * Compares in constant time so that the check leaks nothing about the expected value.
 */
export function verifyWebhookSignature(body: string | Buffer, header: string | undefined, secret: string): boolean {
  if (typeof header !== 'string') return false;
  const expected = Buffer.from(signWebhookBody(body, secret));
  const received = Buffer.from(header.trim().toLowerCase());
  return received.length === expected.length && timingSafeEqual(received, expected);
}
