import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DiffusekitServer } from '../../lib/server/index.js';
import { startServer } from './helpers.js';

interface Operation {
  responses?: Record<string, { description?: string; content?: Record<string, { schema?: unknown }> }>;
}

type Document = { paths: Record<string, Record<string, Operation>> };

const METHODS = new Set(['get', 'post', 'put', 'patch', 'delete', 'head', 'options']);

/** Whether `operation` documents a body (a schema under some content type) for a status code matching `status`. */
function documents(operation: Operation, status: RegExp): boolean {
  return Object.entries(operation.responses ?? {}).some(
    ([code, response]) => status.test(code) && Object.values(response.content ?? {}).some((media) => media.schema !== undefined),
  );
}

/** "GET /path: what is missing" for each operation without a 2xx and a 4xx response schema. */
function undocumented(document: Document): string[] {
  const missing: string[] = [];
  for (const [path, item] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(item)) {
      if (!METHODS.has(method)) continue;
      const lacks = [!documents(operation, /^2(\d\d|XX)$/i) && '2xx', !documents(operation, /^4(\d\d|XX)$/i) && '4xx'].filter(Boolean);
      if (lacks.length) missing.push(`${method.toUpperCase()} ${path}: no ${lacks.join(' or ')} response schema`);
    }
  }
  return missing;
}

describe('the OpenAPI document', () => {
  let server: DiffusekitServer;
  let document: Document;

  beforeAll(async () => {
    server = await startServer();
    const response = await fetch(`${server.url}/docs/json`);
    expect(response.status).toBe(200);
    document = (await response.json()) as Document;
  }, 120_000);

  afterAll(async () => {
    await server?.close();
  });

  it('has a 2xx and a 4xx response schema on every operation', () => {
    const operations = Object.values(document.paths).flatMap((item) => Object.keys(item).filter((m) => METHODS.has(m)));
    expect(operations.length).toBeGreaterThan(50);
    expect(undocumented(document)).toEqual([]);
  });

  it('tells an operation without response schemas (Fastify swagger\'s "Default Response") from one with them', () => {
    const bare: Document = { paths: { '/x': { get: { responses: { 200: { description: 'Default Response' } } } } } };
    expect(undocumented(bare)).toEqual(['GET /x: no 2xx or 4xx response schema']);
    const noError: Document = { paths: { '/x': { post: { responses: { 200: { content: { 'application/json': { schema: { type: 'object' } } } } } } } } };
    expect(undocumented(noError)).toEqual(['POST /x: no 4xx response schema']);
  });

  it('describes each face with its own error shape', () => {
    const errorOf = (path: string, method: string) => document.paths[path]![method]!.responses!['4XX']!.content!['application/json']!.schema as { properties: Record<string, unknown> };
    expect(Object.keys(errorOf('/api/v6/images/text2img', 'post').properties)).toEqual(expect.arrayContaining(['status', 'message', 'code', 'id', 'meta']));
    expect(Object.keys(errorOf('/api/v6/keys/create', 'post').properties)).toEqual(['status', 'message', 'code']);
    expect(Object.keys(errorOf('/v1/images/generations', 'post').properties)).toEqual(['error']);
    expect(Object.keys(errorOf('/sdapi/v1/txt2img', 'post').properties)).toEqual(['error', 'detail', 'body', 'errors']);
  });

  it('gives the content types of the output files and the event stream', () => {
    expect(Object.keys(document.paths['/generations/{file}']!.get!.responses!['200']!.content!)).toEqual(expect.arrayContaining(['image/png', 'image/jpeg', 'image/webp', 'video/mp4']));
    expect(Object.keys(document.paths['/api/v6/images/events/{id}']!.get!.responses!['200']!.content!)).toEqual(['text/event-stream']);
  });
});
