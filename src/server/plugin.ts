import { AjvCompiler } from '@fastify/ajv-compiler';
import type { FastifyInstance, FastifyPluginOptions } from 'fastify';
import { createServer, type DiffusekitServer } from './app.js';
import { resolveServerConfig, type ServerOptions } from './config.js';

/** The server's options, plus Fastify's own register options (prefix...), and a way to reach the running server. */
export interface DiffusekitPluginOptions extends ServerOptions, FastifyPluginOptions {
  /** Called once the server is built (its job service, models, worker pool), before the routes take requests. */
  onServer?: (server: DiffusekitServer) => void;
}

// Fastify's own register options: not server options.
const FASTIFY_REGISTER_OPTIONS = ['prefix', 'logLevel', 'logSerializers'] as const;

/**
 * The server as a Fastify plugin: `app.register(diffusekit, { models: [...], dataDir })` puts the v6, OpenAI and
 * A1111 routes, the OpenAPI document, /health and /ready into the caller's app, in a scope of their own, next to
 * the app's own routes (with `prefix`, under it). The job queue and workers start when the app is ready and stop
 * when it closes. The app's settings stand (logger, trustProxy...); the request body limit is set per route, and
 * the scope validates with Fastify's Ajv set up as the standalone server's.
 * `port` and `host` are the app's business: they are ignored.
 */
export async function diffusekit(scope: FastifyInstance, options: DiffusekitPluginOptions): Promise<void> {
  const { onServer, ...rest } = options;
  const serverOptions: ServerOptions = { ...rest };
  for (const name of FASTIFY_REGISTER_OPTIONS) delete (serverOptions as Record<string, unknown>)[name];
  const { limits } = resolveServerConfig(serverOptions);
  // The v6 schemas take fields of several types (track_id: string or number), as the standalone server's Ajv allows.
  scope.setValidatorCompiler(AjvCompiler()({}, { customOptions: { allowUnionTypes: true } }));
  scope.addHook('onRoute', (route) => {
    route.bodyLimit ??= limits.maxBodyBytes;
  });
  const server = await createServer(serverOptions, scope);
  scope.addHook('onReady', server.start);
  scope.addHook('onClose', async () => server.close());
  onServer?.(server);
}
