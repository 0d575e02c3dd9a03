import { ApiError } from '../../errors.js';
import type { JobRecord } from '../../jobs/job-spec.js';
import type { ObjectStorage } from '../../storage/object-storage.js';
import type { ErrorData } from '../error-data.js';
import type { OutputLinks } from '../../security/output-links.js';
import { httpStatusOfJobError, readOutput } from '../shared/job-results.js';
import type { OpenAIRequestData } from './to-job.js';

/**
 * The OpenAI images response of a finished job: `{ created, data: [{ url | b64_json, revised_prompt? }] }`
 * (revised_prompt only when the server's prompt model revised the prompt)
 * plus the `output_format`, `size`, `quality` and `background` fields newer OpenAI models return.
 */
export async function renderImages(job: JobRecord, storage: ObjectStorage, links: OutputLinks): Promise<Record<string, unknown>> {
  const request = job.request as unknown as OpenAIRequestData;
  const data = await Promise.all(
    job.outputs.map(async (output) => {
      const image =
        request.response_format === 'b64_json'
          ? { b64_json: (await readOutput(storage, output.file)).toString('base64') }
          : { url: await links.link(job, output.file) };
      return request.revised_prompt === undefined ? image : { ...image, revised_prompt: request.revised_prompt };
    }),
  );
  const first = job.outputs[0];
  return {
    created: Math.floor(job.createdAt / 1000),
    data,
    output_format: job.spec.outputFormat,
    ...(first ? { size: `${first.width}x${first.height}` } : {}),
    quality: request.quality,
    background: 'opaque',
  };
}

/** A job that did not succeed (or not in time), as the error the request answers with. */
export function jobError(job: JobRecord, waitedSeconds: number): ApiError {
  if (job.status === 'queued' || job.status === 'running') {
    // A retry would queue the same work again: the SDK obeys x-should-retry.
    return new ApiError(504, 'timeout', `Job ${job.id} is still ${job.status} after ${waitedSeconds} s; its result will be at ${job.baseUrl}/api/v6/images/fetch/${job.id}`, { 'x-should-retry': 'false' });
  }
  if (job.status === 'cancelled') return new ApiError(500, 'job_cancelled', `Job ${job.id} was cancelled`, { 'x-should-retry': 'false' });
  const status = httpStatusOfJobError(job);
  return new ApiError(status === 200 ? 500 : status, job.errorCode ?? 'job_failed', job.error ?? `Job ${job.id} failed`);
}

export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

/**
 * An error as OpenAI shapes it, with OpenAI's types: invalid_request_error (4xx), invalid_api_key (401),
 * rate_limit_exceeded (429), server_error (5xx). A spent monthly quota (402 in the v6 API) is OpenAI's
 * 429 insufficient_quota, marked not to be retried.
 */
export function renderError(data: ErrorData, param: string | null): { statusCode: number; headers: Record<string, string>; body: OpenAIErrorBody } {
  const body = (type: string, code: string | null) => ({ error: { message: data.message, type, param, code } });
  if (data.statusCode === 401) return { statusCode: 401, headers: data.headers, body: body('invalid_request_error', 'invalid_api_key') };
  if (data.statusCode === 402) return { statusCode: 429, headers: { ...data.headers, 'x-should-retry': 'false' }, body: body('insufficient_quota', 'insufficient_quota') };
  if (data.statusCode === 429) return { statusCode: 429, headers: data.headers, body: body('requests', 'rate_limit_exceeded') };
  if (data.statusCode >= 500) return { statusCode: data.statusCode, headers: data.headers, body: body('server_error', data.code) };
  return { statusCode: data.statusCode, headers: data.headers, body: body('invalid_request_error', data.code) };
}
