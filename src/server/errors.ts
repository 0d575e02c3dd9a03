/**
 * An error meant for an API client: an HTTP status, a stable machine-readable code and a message.
 * Route handlers throw these; each API dialect renders them in its own error shape.
 */
export class ApiError extends Error {
  readonly statusCode: number;
  readonly code: string;
  /** Extra response headers (e.g. Retry-After for 429). */
  readonly headers: Record<string, string>;

  constructor(statusCode: number, code: string, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.name = 'ApiError';
    this.statusCode = statusCode;
    this.code = code;
    this.headers = headers;
  }
}

export const badRequest = (message: string, code = 'invalid_request'): ApiError => new ApiError(400, code, message);

/** A synchronous call cut short by a shutdown: the job is kept and runs after the restart. */
export const shuttingDown = (id: number): ApiError =>
  new ApiError(503, 'shutting_down', `The server is shutting down: job ${id} stays queued and fetchable at /api/v6/images/fetch/${id} after the restart`, { 'Retry-After': '10' });
