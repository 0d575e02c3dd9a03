import net from 'node:net';
import type { FastifyRequest } from 'fastify';

/**
 * The origin output URLs (and fetch_result links) are built on: --public-url when set; behind a trusted proxy
 * its X-Forwarded-Proto/-Host; otherwise the address the connection reached, never the client's Host header
 * (which anyone can set, and would put another host into the URLs this server hands out and signs).
 */
export function publicOrigin(request: FastifyRequest, options: { publicUrl?: string; trustProxy: boolean }): string {
  if (options.publicUrl) return options.publicUrl;
  if (options.trustProxy) return `${request.protocol}://${request.host}`;
  const socket = request.raw.socket;
  let address = socket.localAddress ?? '127.0.0.1';
  if (address.startsWith('::ffff:') && net.isIPv4(address.slice(7))) address = address.slice(7);
  return `http://${net.isIPv6(address) ? `[${address}]` : address}:${socket.localPort}`;
}
