import type { FastifyInstance } from 'fastify';
import { VERSION } from '../../version.js';
import { v6Responses } from './v6/schemas.js';

export interface Readiness {
  ready: boolean;
  /** Why not, when not ready: 'starting' (jobs not yet recovered, workers not started) or 'stopping'. */
  reason?: 'starting' | 'stopping';
}

const HEALTH_SCHEMA = {
  type: 'object',
  properties: { status: { type: 'string', enum: ['ok'] }, version: { type: 'string' } },
  required: ['status', 'version'],
} as const;

const READY_SCHEMA = {
  type: 'object',
  properties: { status: { type: 'string', enum: ['ready', 'starting', 'stopping'] }, version: { type: 'string' } },
  required: ['status', 'version'],
} as const;

/**
 * GET /health (liveness: the process answers) and GET /ready (readiness: it takes jobs; 503 while starting or
 * stopping), for load balancers and orchestrators. Neither needs a key.
 */
export async function healthRoutes(app: FastifyInstance, options: { readiness: () => Readiness }): Promise<void> {
  app.get('/health', { schema: { summary: 'Liveness: the server process answers', tags: ['health'], response: v6Responses(HEALTH_SCHEMA) } }, async () => ({
    status: 'ok' as const,
    version: VERSION,
  }));
  app.get(
    '/ready',
    { schema: { summary: 'Readiness: the server takes jobs (503 while starting or stopping)', tags: ['health'], response: { ...v6Responses(READY_SCHEMA), 503: READY_SCHEMA } } },
    async (_request, reply) => {
      const { ready, reason } = options.readiness();
      return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : (reason ?? 'starting'), version: VERSION });
    },
  );
}
