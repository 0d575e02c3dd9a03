import type { FastifyInstance, FastifyRequest } from 'fastify';
import sharp from 'sharp';
import type { JobRecord } from '../jobs/job-spec.js';
import type { JobService } from '../jobs/job-service.js';
import type { JobPreview } from '../workers/protocol.js';
import type { V6JobResponse } from './v6/render.js';
import { eventStreamResponse, v6Responses } from './v6/schemas.js';

export interface EventRoutesOptions {
  service: JobService;
  /** The caller's job (404 for a missing one or another key's). */
  findJob: (request: FastifyRequest) => Promise<JobRecord>;
  /** The job's v6 answer as fetch gives it. */
  render: (job: JobRecord) => Promise<V6JobResponse>;
}

/** How often a running job's progress and preview are looked at (workers report at most every 100 ms). */
const SAMPLE_MS = 250;
/** How often the repository is asked whether the job has ended, in case a notification went missing. */
const BACKSTOP_MS = 2000;
/** A comment line this often keeps proxies from closing a quiet stream. */
const KEEPALIVE_MS = 15_000;

const ENDED = new Set(['success', 'error', 'cancelled']);

const previewPng = async (preview: JobPreview): Promise<string> =>
  `data:image/png;base64,${(await sharp(preview.data, { raw: { width: preview.width, height: preview.height, channels: preview.channels as 1 | 2 | 3 | 4 } }).png().toBuffer()).toString('base64')}`;

/**
 * GET /api/v6/images/events/{id}: a job's life as server-sent events. `state` (the fetch answer) first and
 * last, `progress` ({ phase, step, steps, image, images }) as steps complete, `preview` ({ width, height,
 * image: a PNG data URL of the latent }) as the worker sends them. The stream ends after the final state.
 * Authorization: Bearer, or `?key=` for EventSource, which cannot send headers.
 */
export async function eventRoutes(app: FastifyInstance, { service, findJob, render }: EventRoutesOptions): Promise<void> {
  const schema = {
    summary: "A job's progress, latent previews and final state as server-sent events",
    tags: ['jobs'],
    params: { type: 'object', properties: { id: { type: 'integer', minimum: 1 } }, required: ['id'] },
    querystring: { type: 'object', properties: { key: { type: 'string', maxLength: 200, description: 'API key (EventSource cannot send Authorization)' } } },
    response: v6Responses(eventStreamResponse),
  } as const;
  for (const group of ['images', 'video']) {
    app.get(`/api/v6/${group}/events/:id`, { schema }, async (request, reply) => {
      const { key } = request.query as { key?: string };
      if (key && !request.headers.authorization) request.headers.authorization = `Bearer ${key}`;
      const job = await findJob(request);

      reply.hijack();
      const raw = reply.raw;
      raw.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache, no-transform', 'X-Accel-Buffering': 'no' });
      let open = true;
      request.raw.on('close', () => (open = false));
      const send = (event: string, data: unknown) => open && raw.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);

      send('state', await render(job));
      let ended = ENDED.has(job.status);
      if (ended) return void raw.end();
      let lastProgress = '';
      let lastPreview: Uint8Array | undefined;
      let sampling = false;
      const sample = async () => {
        if (sampling || !open || ended) return;
        sampling = true;
        try {
          const progress = await service.progress(job.id);
          const text = progress ? JSON.stringify(progress) : '';
          if (progress && text !== lastProgress) send('progress', progress);
          lastProgress = text;
          const preview = await service.preview(job.id);
          if (preview && !(lastPreview && Buffer.from(lastPreview.buffer, lastPreview.byteOffset, lastPreview.byteLength).equals(preview.data))) {
            lastPreview = preview.data;
            send('preview', { width: preview.width, height: preview.height, image: await previewPng(preview) });
          }
        } catch (err) {
          request.log.error(err);
        } finally {
          sampling = false;
        }
      };
      // The end: the service's event, or a look at the repository (a backstop for a missed notification), or
      // the client leaving. Nothing outlives the stream, so a server shutting down is not held up by it.
      await new Promise<void>((resolve) => {
        const end = async (record: JobRecord | undefined) => {
          if (ended) return;
          ended = true;
          clearInterval(sampler);
          clearInterval(backstop);
          clearInterval(keepalive);
          service.off('finished', onFinished);
          try {
            if (record) send('state', await render(record));
          } finally {
            raw.end();
            resolve();
          }
        };
        const onFinished = (record: JobRecord) => void (record.id === job.id && end(record));
        const check = async () => {
          const now = await service.get(job.id);
          if (!now || ENDED.has(now.status)) await end(now);
        };
        const sampler = setInterval(() => void sample(), SAMPLE_MS);
        const backstop = setInterval(() => void check().catch((err: unknown) => request.log.error(err)), BACKSTOP_MS);
        const keepalive = setInterval(() => open && raw.write(': keep-alive\n\n'), KEEPALIVE_MS);
        service.on('finished', onFinished);
        request.raw.on('close', () => void end(undefined));
        if (!open) void end(undefined); // gone before we listened
        void check().catch((err: unknown) => request.log.error(err)); // it may have ended before we listened
      });
    });
  }
}
