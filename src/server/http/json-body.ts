import type { FastifyInstance } from 'fastify';
import { ApiError } from '../errors.js';

/** Keys that would reach an object's prototype when a body is later merged with Object.assign or the like. */
function refusePrototypeKeys(key: string, value: unknown): unknown {
  if (key === '__proto__' || (key === 'constructor' && value !== null && typeof value === 'object' && 'prototype' in value)) {
    throw new ApiError(400, 'forbidden_key', `The body has a ${key === '__proto__' ? '__proto__' : 'constructor.prototype'} key, which this server refuses`);
  }
  return value;
}

/**
 * The JSON body parser: JSON.parse with the prototype keys refused by name, and our error for each way a body
 * can fail (Fastify's own parser reports a __proto__ key as "not valid JSON").
 */
export function installJsonBodyParser(app: FastifyInstance, bodyLimit: number): void {
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit }, (_request, body, done) => {
    const text = body as string;
    if (text.trim() === '') return done(new ApiError(400, 'invalid_json', 'The body is empty but Content-Type says JSON'), undefined);
    try {
      done(null, JSON.parse(text, refusePrototypeKeys));
    } catch (err) {
      done(err instanceof ApiError ? err : new ApiError(400, 'invalid_json', `The body is not valid JSON (${(err as Error).message})`), undefined);
    }
  });
}
