import type { FastifyInstance } from 'fastify';
import { InvalidArgumentError } from '../../errors.js';
import { ApiError, badRequest } from '../errors.js';
import { credentialsOf, type Authenticator, type KeyDirectory } from '../auth/authenticate.js';
import { createdKeyJson, toKeyJson, type KeyRecord } from '../auth/key-store.js';
import { v6Responses } from './v6/schemas.js';

export interface KeysRoutesOptions {
  keys: KeyDirectory;
  authenticator: Authenticator;
}

interface CreateBody {
  key?: string;
  name: string;
  rate_limit?: number | null;
  monthly_quota?: number | null;
  max_concurrent?: number | null;
}

interface RevokeBody {
  key?: string;
  id?: string;
  name?: string;
}

const adminKeyField = { type: 'string', description: 'The admin key, unless sent as "Authorization: Bearer <key>"' } as const;

const keyJsonSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    prefix: { type: 'string', description: 'The first characters of the key, to tell keys apart' },
    rate_limit: { type: ['number', 'null'], description: 'Requests per second; null: unlimited' },
    monthly_quota: { type: ['integer', 'null'], description: 'Images per calendar month (UTC); null: unlimited' },
    max_concurrent: { type: ['integer', 'null'], description: "Jobs queued plus running at once; null: the server's default" },
    created_at: { type: 'string', format: 'date-time' },
    revoked_at: { type: ['string', 'null'], format: 'date-time' },
    last_used_at: { type: ['string', 'null'], format: 'date-time' },
    images_this_month: { type: 'integer' },
  },
  required: ['id', 'name', 'prefix', 'rate_limit', 'monthly_quota', 'max_concurrent', 'created_at', 'revoked_at', 'last_used_at', 'images_this_month'],
} as const;

export const createSchema = {
  tags: ['keys'],
  summary: 'Create an API key (admin)',
  body: {
    type: 'object',
    properties: {
      key: adminKeyField,
      name: { type: 'string', minLength: 1, maxLength: 64 },
      rate_limit: { type: ['number', 'null'], exclusiveMinimum: 0, maximum: 1_000_000 },
      monthly_quota: { type: ['integer', 'null'], minimum: 0 },
      max_concurrent: { type: ['integer', 'null'], minimum: 1, maximum: 1_000_000 },
    },
    required: ['name'],
    additionalProperties: false,
  },
  response: v6Responses({
    type: 'object',
    properties: {
      status: { type: 'string', enum: ['success'] },
      key: { type: 'string', description: 'The new key; shown this once, the server keeps only its hash' },
      webhook_secret: { type: 'string', description: "Signs this key's webhooks (HMAC-SHA256); shown this once, stored encrypted" },
      ...keyJsonSchema.properties,
    },
    required: ['status', 'key', 'webhook_secret', ...keyJsonSchema.required],
  }),
} as const;

export const listResponse = v6Responses({
  type: 'object',
  properties: {
    status: { type: 'string', enum: ['success'] },
    keys: { type: 'array', items: keyJsonSchema },
  },
  required: ['status', 'keys'],
});

export const revokeSchema = {
  tags: ['keys'],
  summary: 'Revoke an API key by id or name (admin)',
  body: {
    type: 'object',
    properties: { key: adminKeyField, id: { type: 'string', minLength: 1 }, name: { type: 'string', minLength: 1 } },
    oneOf: [{ required: ['id'] }, { required: ['name'] }],
    additionalProperties: false,
  },
  response: v6Responses({
    type: 'object',
    properties: {
      status: { type: 'string', enum: ['success'] },
      already_revoked: { type: 'boolean' },
      ...keyJsonSchema.properties,
    },
    required: ['status', 'already_revoked', ...keyJsonSchema.required],
  }),
} as const;

// The store speaks the library's validation vocabulary; the API speaks HTTP.
function asApiError(err: unknown): unknown {
  return err instanceof InvalidArgumentError ? badRequest(err.message) : err;
}

/** Key management over the API, for the admin key only: create, list and revoke under /api/v6/keys. */
export async function keysRoutes(app: FastifyInstance, { keys, authenticator }: KeysRoutesOptions): Promise<void> {
  const view = async (record: KeyRecord) => toKeyJson(record, await keys.imagesThisMonth(record.id));

  // Before validation, so a caller without the admin key learns nothing about these bodies.
  app.addHook('preValidation', async (request) => {
    authenticator.requireAdmin(await authenticator.authenticate(credentialsOf(request)));
  });

  app.post<{ Body: CreateBody }>('/api/v6/keys/create', { schema: createSchema }, async (request) => {
    const { name, rate_limit, monthly_quota, max_concurrent } = request.body;
    const existing = await keys.resolve(name);
    if (existing && existing.revokedAt === null) throw new ApiError(409, 'conflict', `An API key named "${name}" already exists`);
    try {
      const { record, key } = await keys.create({ name, rateLimit: rate_limit, monthlyQuota: monthly_quota, maxConcurrent: max_concurrent });
      return { status: 'success', ...createdKeyJson(record, key) };
    } catch (err) {
      throw asApiError(err);
    }
  });

  const list = async () => ({ status: 'success', keys: await Promise.all((await keys.list()).map(view)) });
  app.get('/api/v6/keys/list', { schema: { tags: ['keys'], summary: 'List API keys (admin)', response: listResponse } }, list);
  app.post(
    '/api/v6/keys/list',
    {
      schema: {
        tags: ['keys'],
        summary: 'List API keys (admin)',
        body: { type: 'object', properties: { key: adminKeyField }, additionalProperties: false },
        response: listResponse,
      },
    },
    list,
  );

  app.post<{ Body: RevokeBody }>('/api/v6/keys/revoke', { schema: revokeSchema }, async (request) => {
    const { id, name } = request.body;
    const target = id !== undefined ? await keys.get(id) : await keys.resolve(name!);
    if (!target) throw new ApiError(404, 'not_found', id !== undefined ? `No API key with id "${id}"` : `No API key named "${name}"`);
    const { record, alreadyRevoked } = await keys.revoke(target.id);
    return { status: 'success', already_revoked: alreadyRevoked, ...(await view(record)) };
  });
}
