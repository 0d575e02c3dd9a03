import type { FastifyInstance } from 'fastify';
import type { ObjectStorage } from '../storage/object-storage.js';

const FILE = /^[\w.-]+$/;

/** GET /generations/{file}: outputs from the shared storage (a folder or a bucket), until they expire. */
export async function outputRoutes(app: FastifyInstance, options: { storage: ObjectStorage; maxAgeSeconds: number }): Promise<void> {
  app.get(
    '/generations/:file',
    {
      schema: {
        summary: 'A generated image (PNG with its parameters, or JPEG/WebP)',
        tags: ['outputs'],
        params: { type: 'object', properties: { file: { type: 'string', pattern: FILE.source, maxLength: 200 } }, required: ['file'] },
      },
    },
    async (request, reply) => {
      const { file } = request.params as { file: string };
      const object = await options.storage.get('generations', file);
      if (!object) return reply.code(404).send({ status: 'error', message: `No output ${file} (it may have expired)` });
      return reply
        .header('Content-Type', object.contentType)
        .header('Content-Length', object.size)
        .header('Cache-Control', `public, max-age=${Math.floor(options.maxAgeSeconds)}, immutable`)
        .send(object.body);
    },
  );
}
