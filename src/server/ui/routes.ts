import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { SAMPLERS } from '../../pipeline/samplers.js';
import type { ServerLimits } from '../config.js';
import type { ServedModel } from '../models/model-registry.js';

// The page's files: src/server/ui/assets (shipped as they are) and the compiled browser client (lib/client),
// found from this module, which runs as lib/server/ui/routes.js (or src/server/ui/routes.ts under a TS loader).
const here = path.dirname(fileURLToPath(import.meta.url));
const ASSETS = path.resolve(here, '../../../src/server/ui/assets');
const CLIENT = path.resolve(here, '../../../lib/client');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};
const FILE = /^[\w-]+\.(?:js|css|svg|html)$/;

async function sendFile(reply: FastifyReply, dir: string, file: string) {
  if (!FILE.test(file)) return reply.code(404).send({ status: 'error', message: `No file ${file}`, code: 'not_found' });
  const body = await fs.readFile(path.join(dir, file)).catch(() => undefined);
  if (!body) return reply.code(404).send({ status: 'error', message: `No file ${file}`, code: 'not_found' });
  // no-cache: revalidated each load, so an upgraded server never runs an old page against a new API.
  return reply.header('Content-Type', TYPES[path.extname(file)]).header('Cache-Control', 'no-cache').send(body);
}

/**
 * The web playground at `/` (turned off by `serve --no-ui`): one static page and its script, which talks to
 * the v6 API through the browser build of diffusekit/client, served from /ui/client/. No framework, no CDN.
 */
export async function uiRoutes(app: FastifyInstance, options: { limits: ServerLimits; models: ServedModel[] }): Promise<void> {
  const hide = { schema: { hide: true } };
  app.get('/', hide, async (_request, reply) => sendFile(reply, ASSETS, 'index.html'));
  // The form starts at the default (first) checkpoint's own settings (src/models/family-defaults.ts).
  const model = options.models.find((m) => m.role === 'checkpoint');
  app.get('/ui/config.json', hide, async () => ({
    samplers: [...new Set([model?.defaults.sampler ?? 'euler_a', ...SAMPLERS])],
    defaults: model
      ? { width: model.defaults.width, height: model.defaults.height, steps: model.defaults.steps, guidance_scale: model.defaults.guidanceScale, scheduler: model.defaults.sampler }
      : {},
    limits: { maxSide: options.limits.maxSide, maxSteps: options.limits.maxSteps, maxSamples: options.limits.maxSamples },
  }));
  app.get('/ui/client/:file', hide, async (request, reply) => sendFile(reply, CLIENT, (request.params as { file: string }).file));
  app.get('/ui/:file', hide, async (request, reply) => sendFile(reply, ASSETS, (request.params as { file: string }).file));
}
