import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance } from 'fastify';

/** Headers every response carries: no MIME sniffing, no framing, no referrer leaking output URLs. */
const SECURITY_HEADERS: Record<string, string> = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'content-security-policy': "frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
};

const REQUEST_ID = /^[\w.:@/+=-]{1,128}$/;
const CORS_HEADERS = 'authorization, content-type, x-request-id';
const CORS_METHODS = 'GET, POST, DELETE, OPTIONS';

/**
 * Fastify's `genReqId`: the trusted proxy's `x-request-id` when there is one (and it is a plain token), else
 * a new UUID. Without a trusted proxy a client's id is ignored: it could forge log lines of another request.
 */
export function requestIdGenerator(trustProxy: boolean): (request: IncomingMessage) => string {
  return (request) => {
    const given = request.headers['x-request-id'];
    return trustProxy && typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
  };
}

/** Whether a browser page at `origin` may call the API. */
const corsAllows = (allowed: readonly string[], origin: string): boolean => allowed.includes('*') || allowed.includes(origin);

/**
 * Installs on the root instance (so every route, 404 and error has it): the security headers, the
 * `x-request-id` header and, for the origins of `--cors`, CORS headers and answers to preflight requests.
 */
export function installResponsePolicy(app: FastifyInstance, options: { cors: readonly string[] }): void {
  app.addHook('onRequest', async (request, reply) => {
    reply.headers(SECURITY_HEADERS).header('x-request-id', request.id);
    const origin = request.headers.origin;
    if (options.cors.length === 0 || typeof origin !== 'string' || !corsAllows(options.cors, origin)) return;
    reply
      .header('access-control-allow-origin', options.cors.includes('*') ? '*' : origin)
      .header('vary', 'Origin')
      .header('access-control-expose-headers', 'x-request-id, retry-after');
    if (request.method === 'OPTIONS' && request.headers['access-control-request-method'] !== undefined) {
      return reply
        .code(204)
        .header('access-control-allow-methods', CORS_METHODS)
        .header('access-control-allow-headers', CORS_HEADERS)
        .header('access-control-max-age', '600')
        .send();
    }
  });
}
