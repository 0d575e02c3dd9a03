import { DiffusekitApiError, DiffusekitConnectionError } from './errors.js';
import { readEventStream } from './event-stream.js';
import type {
  ApiKeyInfo,
  ControlnetRequest,
  CreatedKey,
  CreateKeyRequest,
  Img2ImgRequest,
  Img2VideoRequest,
  InpaintRequest,
  JobProgress,
  OutpaintRequest,
  RevokedKey,
  RevokeKeyRequest,
  SuperResolutionRequest,
  SystemLoad,
  Text2ImgRequest,
  Text2VideoRequest,
  V6Endpoint,
  V6JobList,
  V6JobResponse,
  V6Request,
  V6Success,
} from './types.js';

export interface ClientOptions {
  /** The server's origin, e.g. http://127.0.0.1:7860. */
  baseUrl: string;
  /** An API key (dk_...); sent as `Authorization: Bearer`. Not needed with `serve --no-auth`. */
  key?: string;
  /** A fetch implementation (default: the global one). */
  fetch?: typeof globalThis.fetch;
}

export interface CallOptions {
  signal?: AbortSignal;
}

/** What a running job reports on the way (generate's onEvent, events()). */
export type JobEvent =
  | { type: 'state'; job: V6JobResponse }
  | { type: 'progress'; progress: JobProgress }
  | { type: 'preview'; width: number; height: number; /** a PNG data URL of the latent */ image: string };

export interface GenerateOptions extends CallOptions {
  /** 'events' (default): follow the server-sent event stream; 'poll': call fetch again after the server's ETA. */
  wait?: 'events' | 'poll';
  /** Progress, latent previews and states as they come (with wait 'events'; polling reports states only). */
  onEvent?: (event: JobEvent) => void;
  /** Cancel the job on the server when `signal` aborts after it was submitted (default true). */
  cancelOnAbort?: boolean;
  /** Download the outputs (default true); false returns their URLs only. */
  download?: boolean;
}

/** One output of a finished job. */
export interface GeneratedImage {
  url: string;
  seed: number | undefined;
  /** The file's bytes (PNG with its parameters, JPEG, WebP, or a video), unless `download: false`. */
  bytes: Uint8Array | undefined;
  contentType: string | undefined;
}

export interface GenerateResult {
  job: V6Success;
  images: GeneratedImage[];
}

/** Where each endpoint lives. A new face (training, when the server has it) is one more line here and a method. */
const ENDPOINT_PATHS: Record<V6Endpoint, string> = {
  text2img: '/api/v6/images/text2img',
  img2img: '/api/v6/images/img2img',
  inpaint: '/api/v6/images/inpaint',
  outpaint: '/api/v6/images/outpaint',
  controlnet: '/api/v6/images/controlnet',
  super_resolution: '/api/v6/images/super_resolution',
  text2video: '/api/v6/video/text2video',
  img2video: '/api/v6/video/img2video',
};

const sleep = (ms: number, signal: AbortSignal | undefined) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(done, ms);
    function done() {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }
    function onAbort() {
      clearTimeout(timer);
      reject(signal!.reason);
    }
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/** The v6 error answer as a typed error; a job's error carries the job's id and code. */
function apiError(status: number, body: unknown, headers: Headers): DiffusekitApiError {
  const data = (body ?? {}) as { message?: unknown; code?: unknown; id?: unknown; cancelled?: unknown; expired?: unknown };
  const code = typeof data.code === 'string' ? data.code : data.cancelled ? 'cancelled' : data.expired ? 'output_expired' : `http_${status}`;
  const retry = Number(headers.get('retry-after'));
  return new DiffusekitApiError(status, code, typeof data.message === 'string' ? data.message : `HTTP ${status}`, {
    jobId: typeof data.id === 'number' ? data.id : undefined,
    body,
    retryAfter: Number.isFinite(retry) && retry > 0 ? retry : undefined,
  });
}

/**
 * A typed client of a diffusekit server's v6 API, for Node (18+) and browsers: fetch and Web Crypto only.
 * Every method takes an AbortSignal; errors are DiffusekitApiError with the server's code.
 */
export class DiffusekitClient {
  readonly baseUrl: string;
  readonly #key: string | undefined;
  readonly #fetch: typeof globalThis.fetch;

  constructor(options: ClientOptions) {
    if (typeof options?.baseUrl !== 'string' || !/^https?:\/\/[^/]+/.test(options.baseUrl)) {
      throw new TypeError(`Expected an http(s) origin for baseUrl but received ${String(options?.baseUrl)}`);
    }
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.#key = options.key;
    this.#fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  text2img(body: Text2ImgRequest, options?: CallOptions): Promise<V6JobResponse> {
    return this.submit('text2img', body, options);
  }
  img2img(body: Img2ImgRequest, options?: CallOptions): Promise<V6JobResponse> {
    return this.submit('img2img', body, options);
  }
  inpaint(body: InpaintRequest, options?: CallOptions): Promise<V6JobResponse> {
    return this.submit('inpaint', body, options);
  }
  outpaint(body: OutpaintRequest, options?: CallOptions): Promise<V6JobResponse> {
    return this.submit('outpaint', body, options);
  }
  controlnet(body: ControlnetRequest, options?: CallOptions): Promise<V6JobResponse> {
    return this.submit('controlnet', body, options);
  }
  superResolution(body: SuperResolutionRequest, options?: CallOptions): Promise<V6JobResponse> {
    return this.submit('super_resolution', body, options);
  }
  text2video(body: Text2VideoRequest, options?: CallOptions): Promise<V6JobResponse> {
    return this.submit('text2video', body, options);
  }
  img2video(body: Img2VideoRequest, options?: CallOptions): Promise<V6JobResponse> {
    return this.submit('img2video', body, options);
  }

  /** Submits a job to `endpoint`: the answer is `success`, `processing` (queued or running) or a thrown error. */
  submit<E extends V6Endpoint>(endpoint: E, body: V6Request<E>, options?: CallOptions): Promise<V6JobResponse> {
    return this.request<V6JobResponse>('POST', ENDPOINT_PATHS[endpoint], body, options);
  }

  /** The current state of job `id` (fetch_result). */
  fetch(id: number, options?: CallOptions): Promise<V6JobResponse> {
    return this.request('POST', `/api/v6/images/fetch/${id}`, {}, options);
  }

  /** Cancels job `id` (queued: at once; running: within a step) and returns its state. */
  cancel(id: number, options?: CallOptions): Promise<V6JobResponse> {
    return this.request('POST', `/api/v6/images/cancel/${id}`, {}, options);
  }

  /** The caller's newest jobs (a key: its own), newest first, as fetch answers them. */
  async jobs(options: CallOptions & { limit?: number } = {}): Promise<V6JobResponse[]> {
    return (await this.request<V6JobList>('POST', '/api/v6/images/jobs', options.limit === undefined ? {} : { limit: options.limit }, options)).jobs;
  }

  systemLoad(options?: CallOptions): Promise<SystemLoad> {
    return this.request('POST', '/api/v6/system_load', {}, options);
  }

  /** Key management (the admin key only). */
  readonly keys = {
    create: (body: CreateKeyRequest, options?: CallOptions): Promise<CreatedKey> => this.request('POST', '/api/v6/keys/create', body, options),
    list: async (options?: CallOptions): Promise<ApiKeyInfo[]> => (await this.request<{ keys: ApiKeyInfo[] }>('POST', '/api/v6/keys/list', {}, options)).keys,
    revoke: (body: RevokeKeyRequest, options?: CallOptions): Promise<RevokedKey> => this.request('POST', '/api/v6/keys/revoke', body, options),
  };

  /**
   * Job `id`'s events as they happen (the server's event stream): a `state` first and last, `progress` and
   * `preview` between. Ends after the job's final state.
   */
  async *events(id: number, options?: CallOptions): AsyncGenerator<JobEvent> {
    const response = await this.#send('GET', `/api/v6/images/events/${id}`, undefined, options?.signal, 'text/event-stream');
    if (!response.ok) throw apiError(response.status, await response.json().catch(() => undefined), response.headers);
    if (!response.body) throw new DiffusekitConnectionError('The event stream has no body');
    for await (const { event, data } of readEventStream(response.body)) {
      if (event === 'state') yield { type: 'state', job: data as V6JobResponse };
      else if (event === 'progress') yield { type: 'progress', progress: data as JobProgress };
      else if (event === 'preview') yield { type: 'preview', ...(data as { width: number; height: number; image: string }) };
    }
  }

  /**
   * Submits a job, waits until it has ended (following its event stream, or polling fetch after the
   * server's ETA) and returns its outputs, downloaded. A failed or cancelled job throws DiffusekitApiError.
   */
  async generate<E extends V6Endpoint>(endpoint: E, body: V6Request<E>, options: GenerateOptions = {}): Promise<GenerateResult> {
    const { signal, onEvent } = options;
    let job = await this.submit(endpoint, body, { signal });
    const cancel = () => void this.cancel(job.id).catch(() => {});
    if (options.cancelOnAbort !== false) signal?.addEventListener('abort', cancel, { once: true });
    try {
      onEvent?.({ type: 'state', job });
      job = await this.#until(job, options);
    } finally {
      signal?.removeEventListener('abort', cancel);
    }
    if (job.status !== 'success') throw apiError(200, job, new Headers());
    const seeds = job.meta.seeds ?? [];
    const images = await Promise.all(
      job.output.map(async (url, i): Promise<GeneratedImage> => {
        const file = options.download === false ? undefined : await this.download(url, { signal });
        return { url, seed: seeds[i], bytes: file?.bytes, contentType: file?.contentType };
      }),
    );
    return { job, images };
  }

  /**
   * An output file's bytes. This server's own URLs get the key too, for servers that keep outputs private;
   * other origins (a bucket's public URL) never see it.
   */
  async download(url: string, options?: CallOptions): Promise<{ bytes: Uint8Array; contentType: string | undefined }> {
    const own = new URL(url, this.baseUrl).origin === new URL(this.baseUrl).origin;
    let response: Response;
    try {
      response = await this.#fetch(new URL(url, this.baseUrl), { headers: own ? this.#authHeaders() : {}, signal: options?.signal });
    } catch (err) {
      throw this.#connectionError(err, url, options?.signal);
    }
    if (!response.ok) throw apiError(response.status, await response.json().catch(() => undefined), response.headers);
    return { bytes: new Uint8Array(await response.arrayBuffer()), contentType: response.headers.get('content-type') ?? undefined };
  }

  /** A call to any route of the server (for routes this client has no method for yet): JSON in, JSON out. */
  async request<T>(method: 'GET' | 'POST', path: string, body?: unknown, options?: CallOptions): Promise<T> {
    const response = await this.#send(method, path, body, options?.signal, 'application/json');
    const text = await response.text();
    let data: unknown;
    try {
      data = text ? JSON.parse(text) : undefined;
    } catch (err) {
      throw new DiffusekitConnectionError(`${method} ${path}: the answer (HTTP ${response.status}) is not JSON: ${text.slice(0, 200)}`, { cause: err });
    }
    if (!response.ok) throw apiError(response.status, data, response.headers);
    return data as T;
  }

  async #until(job: V6JobResponse, options: GenerateOptions): Promise<V6JobResponse> {
    if (job.status !== 'processing') return job;
    if (options.wait !== 'poll') {
      try {
        let last: V6JobResponse = job;
        for await (const event of this.events(job.id, { signal: options.signal })) {
          options.onEvent?.(event);
          if (event.type === 'state') last = event.job;
        }
        if (last.status !== 'processing') return last;
      } catch (err) {
        // A server without the event stream (or a proxy that drops it): poll instead.
        if (options.signal?.aborted || (err instanceof DiffusekitApiError && err.status !== 404)) throw err;
      }
    }
    let current: V6JobResponse = job;
    while (current.status === 'processing') {
      await sleep(Math.min(5000, Math.max(250, current.eta * 1000)), options.signal);
      current = await this.fetch(current.id, { signal: options.signal });
      options.onEvent?.({ type: 'state', job: current });
    }
    return current;
  }

  #authHeaders(): Record<string, string> {
    return this.#key ? { Authorization: `Bearer ${this.#key}` } : {};
  }

  async #send(method: string, path: string, body: unknown, signal: AbortSignal | undefined, accept: string): Promise<Response> {
    const headers: Record<string, string> = { Accept: accept, ...this.#authHeaders() };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    try {
      return await this.#fetch(`${this.baseUrl}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal });
    } catch (err) {
      throw this.#connectionError(err, path, signal);
    }
  }

  #connectionError(err: unknown, what: string, signal: AbortSignal | undefined): unknown {
    if (signal?.aborted) return signal.reason;
    return new DiffusekitConnectionError(`Could not reach ${this.baseUrl} (${what}): ${(err as Error).message}`, { cause: err });
  }
}
