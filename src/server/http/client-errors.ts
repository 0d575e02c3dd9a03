import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';

/**
 * A whole HTTP/1.1 response in the server's error shape, `{ status: 'error', message }`, for the errors found
 * before Fastify has a request (timeouts, oversized headers, unparsable requests, too many connections).
 */
export function rawErrorResponse(statusCode: number, message: string): string {
  const body = JSON.stringify({ status: 'error', message });
  return [
    `HTTP/1.1 ${statusCode} ${STATUS_CODES[statusCode] ?? 'Error'}`,
    'Content-Type: application/json; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'X-Content-Type-Options: nosniff',
    'Connection: close',
    '',
    body,
  ].join('\r\n');
}

/** What a client did wrong at the HTTP level, by Node's error code. */
function clientErrorOf(code: string | undefined): [number, string] {
  if (code === 'HPE_HEADER_OVERFLOW') return [431, 'The request headers are larger than this server accepts'];
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT' || code === 'ERR_HTTP_HEADERS_TIMEOUT') return [408, 'The request did not arrive in time: the server closed the connection'];
  return [400, 'The request is not valid HTTP'];
}

/** Fastify's `clientErrorHandler`: the answer in our shape instead of Fastify's own. */
export function clientErrorHandler(error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [statusCode, message] = clientErrorOf(error.code);
  if (socket.writable) socket.end(rawErrorResponse(statusCode, message), () => socket.destroy());
  else socket.destroy();
}
