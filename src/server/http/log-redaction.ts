import type { FastifyRequest } from 'fastify';

const REDACTED = '[redacted]';

/** A URL for the log, with the value of any `key` (an API key) in its query replaced. */
export function redactUrl(url: string): string {
  return url.replace(/([?&](?:key|api_key|signature)=)[^&#]*/gi, `$1${REDACTED}`);
}

/**
 * The logger of `--log`: Fastify's JSON request logs with API keys kept out, wherever a client put them: the
 * query (`?key=`), the Authorization header, a `key` field of the body (logged with some errors).
 */
export function redactingLogger() {
  return {
    redact: {
      paths: ['req.headers.authorization', 'req.headers.cookie', 'req.body.key', 'body.key', 'key', 'authorization'],
      censor: REDACTED,
    },
    serializers: {
      req(request: FastifyRequest) {
        return { method: request.method, url: redactUrl(request.url), host: request.host, remoteAddress: request.ip };
      },
    },
  };
}
