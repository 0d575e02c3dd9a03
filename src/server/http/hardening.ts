import type { FastifyInstance } from 'fastify';
import { v6ErrorHandler } from '../api/v6/routes.js';
import type { ServerConfig } from '../config.js';
import { clientErrorHandler } from './client-errors.js';
import { installJsonBodyParser } from './json-body.js';
import { hardenedServerFactory } from './node-server.js';
import { installResponsePolicy, requestIdGenerator } from './response-policy.js';
import { installTextHygiene } from './text-hygiene.js';

/** The Fastify options of the HTTP hardening (docs/security.md): the listener's limits, errors, request ids. */
export function hardenedFastifyOptions(config: Pick<ServerConfig, 'http' | 'trustProxy'>) {
  return {
    // At close, idle keep-alive connections go at once; requests in flight get their answer first.
    forceCloseConnections: 'idle' as const,
    serverFactory: hardenedServerFactory(config.http),
    clientErrorHandler,
    genReqId: requestIdGenerator(config.trustProxy),
  };
}

/**
 * The hardening every route shares, installed on the root instance before any route: the error shape of
 * anything outside a face, the JSON parser, security and CORS headers, text hygiene.
 */
export function installHardening(app: FastifyInstance, config: Pick<ServerConfig, 'cors' | 'limits'>): void {
  app.setErrorHandler(v6ErrorHandler);
  installJsonBodyParser(app, config.limits.maxBodyBytes);
  installResponsePolicy(app, { cors: config.cors });
  installTextHygiene(app);
}
