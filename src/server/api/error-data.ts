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

/** The messages of the multipart parser (busboy) for a body it cannot read. */
const MALFORMED_MULTIPART = /^Multipart: |unexpected end of multipart data|Malformed part header/i;

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
  // The multipart parser's own errors carry no status: a malformed body is the client's doing.
  if (error instanceof Error && MALFORMED_MULTIPART.test(error.message) && typeof fastify.statusCode !== 'number') {
    return { statusCode: 400, code: 'invalid_multipart', message: `The multipart body is malformed (${error.message})`, headers: {}, internal: false };
  }
  if (fastify.validation) return { statusCode: 400, code: 'invalid_request', message: validationMessage(fastify), headers: {}, internal: false };
  if (typeof fastify.statusCode === 'number' && fastify.statusCode >= 400 && fastify.statusCode < 500) {
    const messages: Record<string, string> = {
      FST_ERR_CTP_INVALID_JSON_BODY: 'The body is not valid JSON',
      FST_ERR_CTP_EMPTY_JSON_BODY: 'The body is empty but Content-Type says JSON',
      FST_ERR_CTP_BODY_TOO_LARGE: 'The request body is larger than this server accepts',
      FST_ERR_CTP_INVALID_MEDIA_TYPE: "The body's Content-Type is not accepted here: send application/json (or application/x-www-form-urlencoded); multipart/form-data goes only to /v1/images/edits and /v1/images/variations",
      FST_INVALID_MULTIPART_CONTENT_TYPE: 'This endpoint takes multipart/form-data',
      FST_PARTS_LIMIT: 'The multipart body has too many parts',
      FST_FILES_LIMIT: 'The multipart body has too many files',
      FST_FIELDS_LIMIT: 'The multipart body has too many fields',
      FST_REQ_FILE_TOO_LARGE: 'An uploaded file is larger than this server accepts',
      FST_PROTO_VIOLATION: 'A field name of the body is __proto__ or constructor, which this server refuses',
      FST_MP_PREMATURE_CLOSE: 'The request was closed before the multipart body was complete',
    };
    // Fastify's own codes become ours: clients see one vocabulary (and 415 for every media type refusal).
    const codes: Record<string, [number, string]> = {
      FST_ERR_VALIDATION: [400, 'invalid_request'],
      FST_ERR_CTP_INVALID_JSON_BODY: [400, 'invalid_json'],
      FST_ERR_CTP_EMPTY_JSON_BODY: [400, 'invalid_json'],
      FST_ERR_CTP_BODY_TOO_LARGE: [413, 'body_too_large'],
      FST_ERR_CTP_INVALID_MEDIA_TYPE: [415, 'unsupported_media_type'],
      FST_INVALID_MULTIPART_CONTENT_TYPE: [415, 'unsupported_media_type'],
      FST_PROTO_VIOLATION: [400, 'forbidden_key'],
    };
    const message = messages[fastify.code] ?? (fastify.name === 'SyntaxError' ? `The body is not valid JSON (${fastify.message})` : fastify.message);
    const [statusCode, code] = codes[fastify.code] ?? [fastify.statusCode, fastify.name === 'SyntaxError' ? 'invalid_json' : 'bad_request'];
    return { statusCode, code, message, headers: {}, internal: false };
  }
  return { statusCode: 500, code: 'internal_error', message: 'Internal server error', headers: {}, internal: true };
}
