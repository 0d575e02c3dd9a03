import type { FastifyInstance } from 'fastify';
import { badRequest } from '../errors.js';

/** Fields whose control characters are removed rather than refused: prompts often come pasted. */
const PROMPT_FIELDS = new Set(['prompt', 'negative_prompt']);
// C0 controls except tab, line feed and carriage return; DEL; C1 controls.
const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]/g;
// With the u flag a surrogate pair is one code point: only a lone surrogate matches.
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;
const wellFormed = (text: string): boolean => !LONE_SURROGATE.test(text);

/**
 * One check of every text a request body carries, whatever the dialect: text that is not valid Unicode (a
 * lone UTF-16 surrogate) is refused with a 400, control characters are stripped from prompts, and a NUL
 * anywhere else is refused. The PNG text chunk and the JSON answers can then hold every stored string.
 */
export function cleanText(value: unknown, path: string): unknown {
  if (typeof value === 'string') {
    if (!wellFormed(value)) throw badRequest(`${path} is not valid Unicode text (it holds a lone UTF-16 surrogate)`, 'invalid_text');
    const field = path.slice(path.lastIndexOf('.') + 1);
    if (PROMPT_FIELDS.has(field)) return value.replace(CONTROL, '');
    if (value.includes('\u0000')) throw badRequest(`${path} contains a NUL character`, 'invalid_text');
    return value;
  }
  if (Array.isArray(value)) return value.map((item, i) => cleanText(item, `${path}[${i}]`));
  if (value !== null && typeof value === 'object' && !Buffer.isBuffer(value)) {
    const object = value as Record<string, unknown>;
    for (const key of Object.keys(object)) {
      if (!wellFormed(key)) throw badRequest(`A field name of ${path} is not valid Unicode text`, 'invalid_text');
      object[key] = cleanText(object[key], path === 'body' ? key : `${path}.${key}`);
    }
  }
  return value;
}

/** Runs cleanText on every parsed body (JSON, form or multipart fields) before the route's handler. */
export function installTextHygiene(app: FastifyInstance): void {
  app.addHook('preHandler', async (request) => {
    if (request.body !== undefined && request.body !== null) request.body = cleanText(request.body, 'body');
  });
}
