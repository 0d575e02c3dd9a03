import type { FastifyError } from 'fastify';
import { DiffusekitError } from '../../errors.js';
import { ApiError } from '../errors.js';

export interface ErrorData {
  statusCode: number;
  code: string;
  message: string;
  headers: Record<string, string>;
  /** Unexpected: log it (the client gets a generic message). */
  internal: boolean;
}

/** Names the field of a schema error the way clients spell it: "width", "lora_strength", "body". */
function validationMessage(error: FastifyError): string {
  const first = error.validation?.[0];
  if (!first) return error.message;
  const field = first.instancePath.replace(/^\//, '').replace(/\//g, '.');
  const params = first.params as Record<string, unknown>;
  if (first.keyword === 'required') return `${String(params.missingProperty)} is required`;
  if (first.keyword === 'enum') return `${field} must be one of ${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
  return `${field || error.validationContext || 'body'} ${first.message ?? 'is invalid'}`;
}

/**
 * Any error thrown while handling a request, as data: status, stable code, message, headers. Each API
 * dialect renders this in its own error shape.
 */
export function errorData(error: unknown): ErrorData {
  if (error instanceof ApiError) return { statusCode: error.statusCode, code: error.code, message: error.message, headers: error.headers, internal: false };
  if (error instanceof DiffusekitError) {
    const client = error.code === 'ERR_INVALID_ARG' || error.code === 'ERR_MODEL_FILE';
    return { statusCode: client ? 400 : 500, code: error.code, message: error.message, headers: {}, internal: !client };
  }
  const fastify = error as FastifyError;
  if (fastify.validation) return { statusCode: 400, code: 'invalid_request', message: validationMessage(fastify), headers: {}, internal: false };
  if (typeof fastify.statusCode === 'number' && fastify.statusCode >= 400 && fastify.statusCode < 500) {
    const messages: Record<string, string> = {
      FST_ERR_CTP_INVALID_JSON_BODY: 'The body is not valid JSON',
      FST_ERR_CTP_EMPTY_JSON_BODY: 'The body is empty but Content-Type says JSON',
      FST_ERR_CTP_BODY_TOO_LARGE: 'The request body is larger than this server accepts',
      FST_ERR_CTP_INVALID_MEDIA_TYPE: 'Send the body as application/json, application/x-www-form-urlencoded or multipart/form-data',
    };
    const message = messages[fastify.code] ?? (fastify.name === 'SyntaxError' ? `The body is not valid JSON (${fastify.message})` : fastify.message);
    return { statusCode: fastify.statusCode, code: fastify.code ?? 'bad_request', message, headers: {}, internal: false };
  }
  return { statusCode: 500, code: 'internal_error', message: 'Internal server error', headers: {}, internal: true };
}
