/**
 * An error answer of the server (HTTP 4xx/5xx, or a job that ended in error): the HTTP status, the server's
 * stable error code (`unauthorized`, `too_many_jobs`, `invalid_request`, `cancelled`, `ERR_INVALID_ARG` ...),
 * its message, and the job id when the error is a job's.
 */
export class DiffusekitApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly jobId: number | undefined;
  /** The parsed error body as the server sent it. */
  readonly body: unknown;
  /** Seconds the server asks to wait before retrying (429, 503), from Retry-After. */
  readonly retryAfter: number | undefined;

  constructor(status: number, code: string, message: string, options: { jobId?: number; body?: unknown; retryAfter?: number } = {}) {
    super(message);
    this.name = 'DiffusekitApiError';
    this.status = status;
    this.code = code;
    this.jobId = options.jobId;
    this.body = options.body;
    this.retryAfter = options.retryAfter;
  }
}

/** Why a call never reached an answer: the server is unreachable, or its answer is not the API's JSON. */
export class DiffusekitConnectionError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DiffusekitConnectionError';
  }
}
