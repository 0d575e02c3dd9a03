import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError } from '../errors.js';
import type { JobService } from '../jobs/job-service.js';
import { jobIdOfOutput, type OutputLinks } from '../security/output-links.js';
import { CONTENT_TYPES, type ObjectStorage } from '../storage/object-storage.js';
import type { AccessControl } from './access.js';
import { v6Responses } from './v6/schemas.js';

// A plain file name: a word character first, so '.', '..' and hidden names never reach the storage.
const FILE = /^\w[\w.-]*$/;

/** An output file's bytes, in whichever of the stored types it is: not JSON, so nothing is serialized through it. */
const outputFile = {
  description: 'The file (an image, or a video of a video job)',
  content: Object.fromEntries([...new Set(Object.values(CONTENT_TYPES))].map((type) => [type, { schema: { type: 'string', format: 'binary' } }])),
};

export interface OutputRoutesOptions {
  storage: ObjectStorage;
  maxAgeSeconds: number;
  links: OutputLinks;
  service: Pick<JobService, 'get'>;
  access: AccessControl;
}

/**
 * GET /generations/{file}: outputs from the shared storage (a folder or a bucket), until they expire. In
 * 'private' mode a request needs a valid signed URL or the owner's (or the admin) key.
 */
export async function outputRoutes(app: FastifyInstance, options: OutputRoutesOptions): Promise<void> {
  const { links } = options;

  const admit = async (request: FastifyRequest, file: string): Promise<void> => {
    const signed = links.check(file, request.query as Record<string, unknown>);
    if (signed === 'valid') return;
    if (signed === 'expired') throw new ApiError(403, 'link_expired', 'This output link has expired: fetch the job again for a fresh one');
    if (signed === 'invalid') throw new ApiError(403, 'link_invalid', 'This output link is not valid (its signature does not match)');
    if (links.access === 'unlisted') return;
    const principal = await options.access.identify(request);
    const id = jobIdOfOutput(file);
    const job = id === undefined ? undefined : await options.service.get(id);
    // Another key's output reads as missing, as its job does.
    if (!job || !options.access.canSee(principal, job) || !job.outputs.some((o) => o.file === file)) throw notFound(file);
  };

  app.get(
    '/generations/:file',
    {
      schema: {
        summary: 'A generated image (PNG with its parameters, or JPEG/WebP)',
        tags: ['outputs'],
        params: { type: 'object', properties: { file: { type: 'string', pattern: FILE.source, maxLength: 200 } }, required: ['file'] },
        querystring: { type: 'object', properties: { expires: { type: 'string', maxLength: 20 }, signature: { type: 'string', maxLength: 100 } } },
        response: v6Responses(outputFile),
      },
    },
    async (request, reply) => {
      const { file } = request.params as { file: string };
      await admit(request, file);
      const object = await options.storage.get('generations', file);
      if (!object) throw notFound(file);
      return reply
        .header('Content-Type', object.contentType)
        .header('Content-Length', object.size)
        .header('Cache-Control', `${links.access === 'private' ? 'private' : 'public'}, max-age=${Math.floor(options.maxAgeSeconds)}, immutable`)
        .send(object.body);
    },
  );
}

const notFound = (file: string) => new ApiError(404, 'output_not_found', `No output ${file} (it may have expired)`);
