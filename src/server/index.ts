// diffusekit/server: the REST API server as a library (what `diffusekit serve` runs).
export { createServer, type DiffusekitServer } from './app.js';
export { diffusekit, diffusekit as default, type DiffusekitPluginOptions } from './plugin.js';
export { resolveServerConfig, DEFAULT_LIMITS, DEFAULT_SAFETY_TERMS, type ServerOptions, type ServerConfig, type ServerLimits } from './config.js';
export { defaultDataDir } from './data-dir.js';
export { ApiError } from './errors.js';
export type { JobSpec, JobRecord, JobStatus, JobTask, JobOutput, JobProgress } from './jobs/job-spec.js';
export type { ServedModel } from './models/model-registry.js';
export { WEBHOOK_SIGNATURE_HEADER, verifyWebhookSignature } from './webhooks/signature.js';
