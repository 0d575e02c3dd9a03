import http from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyServerFactory, RawServerDefault } from 'fastify';
import type { HttpLimits } from '../config.js';
import { rawErrorResponse } from './client-errors.js';

/**
 * The Node HTTP server under Fastify, with the limits that keep slow and greedy clients from holding the
 * process: a deadline for the headers and for the whole request, a silence limit while a body is arriving,
 * a short keep-alive and a bound on the connections one address may hold. A response being computed (a
 * synchronous wait) is never cut: only the receipt of a request is timed.
 */
export function hardenedServerFactory(limits: HttpLimits): FastifyServerFactory<RawServerDefault> {
  return (handler) => {
    const server = http.createServer(
      {
        headersTimeout: limits.headersTimeoutSeconds * 1000,
        requestTimeout: limits.requestTimeoutSeconds * 1000,
        keepAliveTimeout: limits.keepAliveTimeoutSeconds * 1000,
        // How often Node checks the two deadlines above (its default, 30 s, would let them run long).
        connectionsCheckingInterval: Math.min(1000, limits.headersTimeoutSeconds * 500),
      },
      (request, response) => {
        watchBodySilence(request, response, limits.idleTimeoutSeconds * 1000);
        handler(request, response);
      },
    );
    boundConnectionsPerAddress(server, limits.maxConnectionsPerAddress);
    return server;
  };
}

/** While a body is arriving the socket may not stay silent longer than `ms`: a stalled upload gets a 408. */
function watchBodySilence(request: http.IncomingMessage, response: http.ServerResponse, ms: number): void {
  const hasBody = Number(request.headers['content-length'] ?? 0) > 0 || request.headers['transfer-encoding'] !== undefined;
  if (!hasBody) return;
  const socket = request.socket;
  // Node reports the socket's silence on the request still being received; answering here keeps Node from
  // destroying the socket without a word.
  const onSilence = () => {
    if (response.headersSent || !socket.writable) socket.destroy();
    else socket.end(rawErrorResponse(408, 'The request body stopped arriving: the server closed the connection'), () => socket.destroy());
  };
  socket.setTimeout(ms);
  request.once('timeout', onSilence);
  const disarm = () => {
    socket.setTimeout(0);
    request.off('timeout', onSilence);
  };
  request.once('end', disarm);
  response.once('finish', disarm);
  response.once('close', disarm);
}

function boundConnectionsPerAddress(server: http.Server, max: number): void {
  const open = new Map<string, number>();
  server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress ?? '';
    const count = (open.get(address) ?? 0) + 1;
    if (count > max) {
      socket.end(rawErrorResponse(429, `Too many connections from one address (at most ${max}): reuse a connection or wait`), () => socket.destroy());
      return;
    }
    open.set(address, count);
    socket.once('close', () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left <= 0) open.delete(address);
      else open.set(address, left);
    });
  });
}
