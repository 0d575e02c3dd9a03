import crypto from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AbortError, DiffusekitError, DownloadError } from '../errors.js';
import { proxyAwareFetch } from '../util/proxy.js';

export interface DownloadProgress {
  /** The file's name in the library. */
  file: string;
  /** Bytes on disk so far, a resumed download's earlier bytes included. */
  received: number;
  /** The file's size, when known. */
  total: number | undefined;
  /** Recent transfer rate. */
  bytesPerSecond: number;
}

export interface DownloadRequest {
  url: string;
  /** Sent to the url's origin only (Authorization): dropped when a redirect leads elsewhere (the CDN). */
  headers?: Record<string, string>;
  /** Where the bytes collect; `<partial>.json` beside it records what they are, so a later run can resume. */
  partial: string;
  /** Where the file goes once whole and verified (renamed, so it appears complete or not at all). */
  destination: string;
  /** Name for progress events and messages. */
  file: string;
  /** What the Hub says the file is: a download that ends otherwise is deleted. */
  expected: { sha256?: string; size?: number };
  /** Turns an error answer into the error to throw (gated, not found...). */
  httpError: (response: Response) => DownloadError;
  onProgress?: (event: DownloadProgress) => void;
  signal?: AbortSignal;
  /** Retries of a dropped connection or a server error, each resuming where the last stopped. Default 4. */
  retries?: number;
  /** First wait before a retry, doubled each time. Default 1000 ms. */
  retryDelayMs?: number;
}

export interface DownloadedFile {
  sha256: string;
  size: number;
}

/** What the partial file holds: the target it was started for and the server's ETag for If-Range. */
interface PartialRecord {
  url: string;
  sha256?: string;
  size?: number;
  etag?: string;
}

/** The connection ended early, or the server had a bad moment: worth another try that resumes. */
class TransientFailure extends Error {}

const PROGRESS_INTERVAL_MS = 100;
const MAX_REDIRECTS = 10;

/**
 * Downloads `url` to `destination` through a resumable partial file: an interrupted run (dropped connection,
 * abort, crash) leaves the partial, and the next run asks only for the rest (Range, with If-Range on the
 * ETag; a 200 answer starts over). The sha256 covers the whole file, resumed bytes included; a file that
 * does not match the expected sha256 and size is deleted and a DownloadError thrown.
 */
export async function downloadFile(request: DownloadRequest): Promise<DownloadedFile> {
  const retries = request.retries ?? 4;
  const retryDelayMs = request.retryDelayMs ?? 1000;
  await fs.mkdir(path.dirname(request.partial), { recursive: true });
  const record = await openPartialRecord(request);
  for (let attempt = 0; ; attempt++) {
    try {
      const result = await transfer(request, record);
      await fs.rename(request.partial, request.destination);
      await fs.rm(recordPath(request), { force: true });
      return result;
    } catch (err) {
      if (request.signal?.aborted) throw abortError(request);
      const transient = err instanceof TransientFailure || (!(err instanceof DiffusekitError) && isNetworkError(err));
      if (!transient) throw err;
      if (attempt >= retries) {
        throw new DownloadError('network', `${request.file}: the download failed ${attempt + 1} times (${(err as Error).message}); run the pull again to resume it`, { cause: err });
      }
      try {
        await sleep(retryDelayMs * 2 ** attempt, undefined, { signal: request.signal });
      } catch {
        throw abortError(request);
      }
    }
  }
}

const recordPath = (request: DownloadRequest) => `${request.partial}.json`;

/** The partial's record; a partial started for other bytes (another revision) is thrown away. */
async function openPartialRecord(request: DownloadRequest): Promise<PartialRecord> {
  const wanted: PartialRecord = { url: request.url, sha256: request.expected.sha256, size: request.expected.size };
  let previous: PartialRecord | undefined;
  try {
    previous = JSON.parse(await fs.readFile(recordPath(request), 'utf8'));
  } catch {
    previous = undefined;
  }
  const sameTarget = previous && previous.sha256 === wanted.sha256 && previous.size === wanted.size && (wanted.sha256 !== undefined || previous.url === wanted.url);
  if (sameTarget) return { ...wanted, etag: previous!.etag };
  await fs.rm(request.partial, { force: true });
  await saveRecord(request, wanted);
  return wanted;
}

async function saveRecord(request: DownloadRequest, record: PartialRecord): Promise<void> {
  const tmp = `${recordPath(request)}.${process.pid}.tmp`;
  await fs.writeFile(tmp, JSON.stringify(record));
  await fs.rename(tmp, recordPath(request));
}

async function partialSize(file: string): Promise<number> {
  return (await fs.stat(file).catch(() => undefined))?.size ?? 0;
}

/** One attempt: asks for the bytes the partial lacks, appends them, and checks the whole file. */
async function transfer(request: DownloadRequest, record: PartialRecord): Promise<DownloadedFile> {
  let offset = await partialSize(request.partial);
  const expectedSize = request.expected.size;
  if (expectedSize !== undefined && offset > expectedSize) {
    await fs.rm(request.partial, { force: true });
    offset = 0;
  }
  let hash: crypto.Hash;
  let size: number;
  if (expectedSize !== undefined && offset === expectedSize && offset > 0) {
    hash = await hashPrefix(request.partial, offset); // complete already: an earlier run stopped before the rename
    size = offset;
  } else {
    ({ hash, size } = await receive(request, record, offset));
  }
  return verify(request, hash.digest('hex'), size);
}

async function receive(request: DownloadRequest, record: PartialRecord, offset: number): Promise<{ hash: crypto.Hash; size: number }> {
  const headers: Record<string, string> = {};
  if (offset > 0) {
    headers.Range = `bytes=${offset}-`;
    if (record.etag) headers['If-Range'] = record.etag;
  }
  const response = await fetchFollowingRedirects(request, headers);
  if (response.status === 416 || (response.status === 206 && rangeStart(response) !== offset)) {
    // The server cannot continue this partial: start over.
    await response.body?.cancel();
    await fs.rm(request.partial, { force: true });
    throw new TransientFailure(`the server could not resume at byte ${offset}`);
  }
  if (!response.ok) {
    await response.body?.cancel();
    if (response.status >= 500 || response.status === 429) throw new TransientFailure(`the server answered ${response.status} ${response.statusText}`);
    throw request.httpError(response);
  }
  let hash: crypto.Hash;
  if (response.status === 206) {
    hash = await hashPrefix(request.partial, offset);
  } else {
    offset = 0; // 200: the whole file, from the start (the server ignored the Range, or the ETag changed)
    hash = crypto.createHash('sha256');
    record.etag = response.headers.get('etag') ?? undefined;
    await saveRecord(request, record);
  }
  const total = request.expected.size ?? contentTotal(response, offset);
  let received = offset;
  const handle = await fs.open(request.partial, offset > 0 ? 'a' : 'w');
  const started = Date.now();
  let lastReport = 0;
  const report = (force: boolean) => {
    const now = Date.now();
    if (!request.onProgress || (!force && now - lastReport < PROGRESS_INTERVAL_MS)) return;
    lastReport = now;
    const seconds = Math.max((now - started) / 1000, 0.001);
    request.onProgress({ file: request.file, received, total, bytesPerSecond: Math.round((received - offset) / seconds) });
  };
  try {
    if (response.body) {
      for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
        hash.update(chunk);
        await handle.write(chunk);
        received += chunk.byteLength;
        if (total !== undefined && received > total) break;
        report(false);
      }
    }
  } finally {
    await handle.close();
  }
  if (total !== undefined && received < total) throw new TransientFailure(`the connection closed after ${received} of ${total} bytes`);
  report(true);
  return { hash, size: received };
}

/** GET with the request's headers, following redirects by hand so credentials stay with the url's origin. */
async function fetchFollowingRedirects(request: DownloadRequest, headers: Record<string, string>): Promise<Response> {
  const origin = new URL(request.url).origin;
  let url = new URL(request.url);
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const response = await proxyAwareFetch(url, {
      headers: { ...headers, ...(url.origin === origin ? request.headers : {}) },
      redirect: 'manual',
      signal: request.signal,
    });
    const location = response.headers.get('location');
    if (response.status < 300 || response.status >= 400 || !location) return response;
    await response.body?.cancel();
    url = new URL(location, url);
  }
  throw new DownloadError('http', `${request.file}: more than ${MAX_REDIRECTS} redirects from ${request.url}`);
}

function rangeStart(response: Response): number | undefined {
  const match = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(response.headers.get('content-range') ?? '');
  return match ? Number(match[1]) : undefined;
}

function contentTotal(response: Response, offset: number): number | undefined {
  const range = /\/(\d+)$/.exec(response.headers.get('content-range') ?? '');
  if (range) return Number(range[1]);
  const length = response.headers.get('content-length');
  return length === null ? undefined : offset + Number(length);
}

async function hashPrefix(file: string, length: number): Promise<crypto.Hash> {
  const hash = crypto.createHash('sha256');
  if (length === 0) return hash;
  for await (const chunk of createReadStream(file, { start: 0, end: length - 1 })) hash.update(chunk as Buffer);
  return hash;
}

async function verify(request: DownloadRequest, sha256: string, size: number): Promise<DownloadedFile> {
  const { expected } = request;
  const problem =
    expected.size !== undefined && size !== expected.size
      ? `${size} bytes arrived, the Hub lists ${expected.size}`
      : expected.sha256 !== undefined && sha256 !== expected.sha256
        ? `its sha256 is ${sha256}, the Hub lists ${expected.sha256}`
        : undefined;
  if (problem) {
    await fs.rm(request.partial, { force: true });
    await fs.rm(recordPath(request), { force: true });
    throw new DownloadError('verification', `${request.file}: the download is corrupt (${problem}); it was deleted: pull it again`);
  }
  return { sha256, size };
}

/** fetch's own failures: refused, reset or dropped connections (TypeError 'fetch failed' / 'terminated'). */
function isNetworkError(err: unknown): boolean {
  return err instanceof TypeError || ['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'UND_ERR_SOCKET'].includes((err as { code?: string }).code ?? '');
}

function abortError(request: DownloadRequest): AbortError {
  return new AbortError(`The download of ${request.file} was aborted; run the pull again to resume it`, { cause: request.signal?.reason });
}
