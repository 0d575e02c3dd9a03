// diffusekit/client: a typed client of a diffusekit server's v6 API, for Node and browsers. It loads
// nothing of the server, the engine or native code (its types come from the server's schemas, type-only).
export { DiffusekitClient, type CallOptions, type ClientOptions, type GenerateOptions, type GenerateResult, type GeneratedImage, type JobEvent } from './client.js';
export { DiffusekitApiError, DiffusekitConnectionError } from './errors.js';
export { readEventStream, type ServerSentEvent } from './event-stream.js';
export { verifyWebhook, WEBHOOK_SIGNATURE_HEADER } from './webhook.js';
export type * from './types.js';
export type { FromSchema } from './schema-types.js';
