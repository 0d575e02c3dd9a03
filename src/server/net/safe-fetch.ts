import type { LookupAddress } from 'node:dns';
import dns from 'node:dns/promises';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { proxyFor } from '../../util/proxy.js';
import { VERSION } from '../../version.js';
import { ApiError } from '../errors.js';
import { compileAllowList, EMPTY_ALLOW_LIST, hostRefusal, type AllowList } from './address-policy.js';

export interface SafeFetchOptions {
  method?: 'GET' | 'POST';
  /** Request headers; a User-Agent of diffusekit/<version> is added unless given. */
  headers?: Readonly<Record<string, string>>;
  body?: string | Buffer;
  /** The largest response body accepted, in bytes. */
  maxBytes: number;
  /** A limit on the whole exchange: every lookup, connection, redirect and the body. */
  timeoutMs: number;
  /** Redirects followed before giving up (default 3); 0 refuses any redirect. */
  maxRedirects?: number;
  /** Host names, addresses and CIDR ranges exempt from the block on non-public addresses. */
  allow?: AllowList | readonly string[];
  /** Judges a 2xx response's media type (lower-case, parameters removed, '' when absent) before its body is read. */
  acceptContentType?: (contentType: string) => boolean;
  /** Resolves a host name to all its addresses; dns.lookup unless replaced (tests use this). */
  resolveHost?: (hostname: string) => Promise<LookupAddress[]>;
}

export interface SafeFetchResponse {
  status: number;
  statusText: string;
  headers: http.IncomingHttpHeaders;
  /** The media type, lower-case without parameters ('image/png'); '' when the response named none. */
  contentType: string;
  body: Buffer;
  /** The URL that answered, after redirects. */
  url: string;
}

const DEFAULT_MAX_REDIRECTS = 3;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
/** Headers that carry the caller's credentials: not handed to another origin by a redirect. */
const CREDENTIAL_HEADERS = ['authorization', 'cookie', 'proxy-authorization'];

interface Hop {
  url: URL;
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: string | Buffer;
}

/**
 * Fetches an http(s) URL on behalf of an API client without letting the client reach the server's own network.
 * Every hop's host is resolved, and refused if any of its addresses is loopback, private, link-local, or
 * otherwise not public unicast (unless allow-listed); the connection then goes to exactly the addresses that
 * were checked, so a DNS answer that changes between check and connect cannot redirect it. Redirects are
 * followed by hand and checked the same way; one from https to http is refused, since it would expose a request
 * the client meant to be private. Failures throw ApiError (400) with codes url_invalid, url_not_allowed,
 * url_fetch_failed, url_too_large, url_timeout and url_bad_content_type. A non-2xx answer is returned, not
 * thrown: see assertSuccessStatus.
 */
export async function safeFetch(url: string, options: SafeFetchOptions): Promise<SafeFetchResponse> {
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(), options.timeoutMs);
  try {
    return await fetchFollowingRedirects(parseFetchUrl(url), options, deadline.signal);
  } catch (error) {
    if (error instanceof ApiError) throw error;
    if (deadline.signal.aborted) {
      throw new ApiError(400, 'url_timeout', `Timed out fetching ${describeUrl(url)} after ${options.timeoutMs} ms`);
    }
    throw new ApiError(400, 'url_fetch_failed', `Could not fetch ${describeUrl(url)}: ${errorText(error)}`);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Parses a URL a client gave and checks what can be checked without the network: the scheme (http: and https:
 * only) and the absence of credentials. Lets a route refuse a bad URL when a job is submitted rather than when it
 * runs; safeFetch checks again.
 */
export function parseFetchUrl(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ApiError(400, 'url_invalid', `Expected an http or https URL but received ${describeUrl(url)}`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new ApiError(400, 'url_not_allowed', `Refusing to fetch ${describeUrl(parsed)}: only http and https URLs are fetched`);
  }
  if (parsed.username !== '' || parsed.password !== '') {
    throw new ApiError(400, 'url_invalid', `Refusing to fetch ${describeUrl(parsed)}: credentials in URLs are not supported`);
  }
  return parsed;
}

/**
 * Checks a URL the server will call later (a webhook) against the address policy now: the scheme, and every
 * address its host resolves to. The call itself is checked again (DNS may change in between).
 */
export async function checkUrlTarget(url: string, options: Pick<SafeFetchOptions, 'allow' | 'resolveHost' | 'timeoutMs'>): Promise<void> {
  const parsed = parseFetchUrl(url);
  const { allow, resolveHost } = addressPolicy(options);
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(new ApiError(400, 'url_timeout', `Timed out resolving ${describeUrl(url)}`)), options.timeoutMs);
  try {
    await resolveChecked(parsed, allow, resolveHost, deadline.signal);
  } finally {
    clearTimeout(timer);
  }
}

/** Throws url_fetch_failed unless the response is 2xx, for callers to whom anything else is a failure. */
export function assertSuccessStatus(response: SafeFetchResponse): SafeFetchResponse {
  if (response.status >= 200 && response.status < 300) return response;
  throw new ApiError(400, 'url_fetch_failed', `${describeUrl(response.url)} answered ${response.status} ${response.statusText}`.trimEnd());
}

async function fetchFollowingRedirects(url: URL, options: SafeFetchOptions, signal: AbortSignal): Promise<SafeFetchResponse> {
  const { allow, resolveHost } = addressPolicy(options);
  const maxRedirects = options.maxRedirects ?? DEFAULT_MAX_REDIRECTS;
  let hop = firstHop(url, options);
  for (let redirects = 0; ; redirects++) {
    const addresses = await resolveChecked(hop.url, allow, resolveHost, signal);
    const response = await send(hop, addresses, signal);
    const status = response.statusCode ?? 0;
    const location = response.headers.location;
    if (REDIRECT_STATUSES.has(status) && location !== undefined) {
      response.destroy();
      const target = redirectTarget(hop.url, location);
      if (redirects >= maxRedirects) {
        const limit = maxRedirects === 0 ? 'redirects are not followed' : `gave up after ${maxRedirects} redirects`;
        throw new ApiError(400, 'url_fetch_failed', `Could not fetch ${describeUrl(hop.url)}: it redirects to ${describeUrl(target)}; ${limit}`);
      }
      hop = redirectedHop(hop, target, status);
      continue;
    }
    const contentType = mediaType(response.headers['content-type']);
    if (status >= 200 && status < 300 && options.acceptContentType && !options.acceptContentType(contentType)) {
      response.destroy();
      throw new ApiError(400, 'url_bad_content_type',
        `Refusing ${describeUrl(hop.url)}: content type ${JSON.stringify(contentType || '(none)')} is not accepted`);
    }
    const body = await readBody(response, options.maxBytes, hop.url);
    return { status, statusText: response.statusMessage ?? '', headers: response.headers, contentType, body, url: hop.url.href };
  }
}

function firstHop(url: URL, options: SafeFetchOptions): Hop {
  const headers: Record<string, string> = { 'user-agent': `diffusekit/${VERSION}` };
  for (const [name, value] of Object.entries(options.headers ?? {})) headers[name.toLowerCase()] = value;
  if (options.body !== undefined) headers['content-length'] = String(Buffer.byteLength(options.body));
  return { url, method: options.method ?? 'GET', headers, body: options.body };
}

function redirectTarget(from: URL, location: string): URL {
  let target: URL;
  try {
    target = new URL(location, from);
  } catch {
    throw new ApiError(400, 'url_fetch_failed', `Could not fetch ${describeUrl(from)}: it redirects to an invalid URL`);
  }
  if (from.protocol === 'https:' && target.protocol === 'http:') {
    throw new ApiError(400, 'url_not_allowed', `Refusing to follow ${describeUrl(from)} to ${describeUrl(target)}: a redirect may not downgrade https to http`);
  }
  return parseFetchUrl(target.href);
}

/** 307 and 308 repeat the request as it was; 301, 302 and 303 turn it into a GET without a body, as browsers do. */
function redirectedHop(hop: Hop, target: URL, status: number): Hop {
  const headers = { ...hop.headers };
  const keepsBody = status === 307 || status === 308;
  if (!keepsBody) {
    delete headers['content-type'];
    delete headers['content-length'];
  }
  if (target.origin !== hop.url.origin) for (const name of CREDENTIAL_HEADERS) delete headers[name];
  return keepsBody ? { ...hop, url: target, headers } : { url: target, method: 'GET', headers };
}

async function resolveChecked(
  url: URL,
  allow: AllowList,
  resolveHost: (hostname: string) => Promise<LookupAddress[]>,
  signal: AbortSignal,
): Promise<LookupAddress[]> {
  const hostname = url.hostname.replace(/^\[(.*)\]$/, '$1');
  let addresses: LookupAddress[];
  if (net.isIP(hostname) !== 0) {
    addresses = [{ address: hostname, family: net.isIP(hostname) }];
  } else {
    try {
      addresses = await untilAborted(resolveHost(hostname), signal);
    } catch (error) {
      if (signal.aborted) throw error;
      throw new ApiError(400, 'url_fetch_failed', `Could not fetch ${describeUrl(url)}: cannot resolve ${hostname} (${errorText(error)})`);
    }
    if (addresses.length === 0) throw new ApiError(400, 'url_fetch_failed', `Could not fetch ${describeUrl(url)}: ${hostname} has no addresses`);
  }
  const refusal = hostRefusal(hostname, addresses.map((entry) => entry.address), allow);
  if (refusal !== undefined) throw new ApiError(400, 'url_not_allowed', `Refusing to fetch ${describeUrl(url)}: ${refusal}`);
  return addresses;
}

function send(hop: Hop, addresses: LookupAddress[], signal: AbortSignal): Promise<http.IncomingMessage> {
  const proxy = proxyFor(hop.url);
  if (proxy) return sendThroughProxy(hop, addresses[0]!, proxy, signal);
  return new Promise((resolve, reject) => {
    const transport = hop.url.protocol === 'https:' ? https : http;
    // agent: false, so that no pooled socket, connected for another check, is reused.
    const request = transport.request(hop.url, { method: hop.method, headers: hop.headers, agent: false, lookup: pinnedLookup(addresses), signal });
    request.once('response', resolve);
    request.once('error', reject);
    request.end(hop.body);
  });
}

/**
 * Sends the hop through the environment's proxy (HTTPS_PROXY / HTTP_PROXY, see proxyFor) as a CONNECT tunnel
 * to the checked address, never to the host name: the proxy cannot resolve the name anew to an address the
 * policy refused. TLS (for https) runs inside the tunnel, verified against the host name.
 */
function sendThroughProxy(hop: Hop, address: LookupAddress, proxy: URL, signal: AbortSignal): Promise<http.IncomingMessage> {
  const secure = hop.url.protocol === 'https:';
  const port = Number(hop.url.port || (secure ? 443 : 80));
  const authority = address.family === 6 ? `[${address.address}]:${port}` : `${address.address}:${port}`;
  const user = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`;
  const credentials = proxy.username === '' ? {} : { 'proxy-authorization': `Basic ${Buffer.from(user).toString('base64')}` };
  return new Promise((resolve, reject) => {
    const proxySecure = proxy.protocol === 'https:';
    const connect = (proxySecure ? https : http).request({
      host: proxy.hostname.replace(/^\[(.*)\]$/, '$1'), port: proxy.port || (proxySecure ? 443 : 80),
      method: 'CONNECT', path: authority, headers: { host: authority, ...credentials }, agent: false, signal,
    });
    connect.once('error', reject);
    connect.once('connect', (answer, socket) => {
      if (answer.statusCode !== 200) {
        socket.destroy();
        reject(new ApiError(400, 'url_fetch_failed', `Could not fetch ${describeUrl(hop.url)}: the proxy ${proxy.host} answered ${answer.statusCode} ${answer.statusMessage ?? ''}`.trimEnd()));
        return;
      }
      const hostname = hop.url.hostname.replace(/^\[(.*)\]$/, '$1');
      const stream = secure ? tls.connect({ socket, host: hostname, servername: net.isIP(hostname) === 0 ? hostname : undefined }) : socket;
      const request = http.request({
        method: hop.method, path: `${hop.url.pathname}${hop.url.search}`, headers: { host: hop.url.host, ...hop.headers }, signal, createConnection: () => stream,
      });
      request.once('response', resolve);
      request.once('error', reject);
      request.end(hop.body);
    });
    connect.end();
  });
}

/** A lookup that answers with the addresses already checked, instead of asking DNS a second time. */
function pinnedLookup(addresses: LookupAddress[]): net.LookupFunction {
  return (_hostname, options, callback) => {
    if (options.all) return callback(null, addresses);
    const wanted = options.family === 4 || options.family === 6 ? options.family : undefined;
    const chosen = addresses.find((entry) => wanted === undefined || entry.family === wanted) ?? addresses[0]!;
    callback(null, chosen.address, chosen.family);
  };
}

async function readBody(response: http.IncomingMessage, maxBytes: number, url: URL): Promise<Buffer> {
  const tooLarge = (): ApiError =>
    new ApiError(400, 'url_too_large', `Refusing ${describeUrl(url)}: the response is larger than ${maxBytes} bytes`);
  const declared = Number(response.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    response.destroy();
    throw tooLarge();
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of response as AsyncIterable<Buffer>) {
    total += chunk.length;
    // Leaving the loop destroys the stream: the rest is never downloaded.
    if (total > maxBytes) throw tooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, total);
}

export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function mediaType(header: string | undefined): string {
  return (header ?? '').split(';')[0]!.trim().toLowerCase();
}

/** The allow-list and the resolver a check uses, from the caller's options. */
function addressPolicy(options: Pick<SafeFetchOptions, 'allow' | 'resolveHost'>) {
  const allow = options.allow === undefined ? EMPTY_ALLOW_LIST : isAllowList(options.allow) ? options.allow : compileAllowList(options.allow);
  const resolveHost = options.resolveHost ?? ((hostname: string) => dns.lookup(hostname, { all: true }));
  return { allow, resolveHost };
}

function isAllowList(allow: AllowList | readonly string[]): allow is AllowList {
  return !Array.isArray(allow);
}

/** A URL for a message: never longer than a line (data could be pasted into one) and without a password. */
function describeUrl(url: string | URL): string {
  let text = String(url);
  try {
    const parsed = new URL(text);
    if (parsed.password !== '') parsed.password = '***';
    text = parsed.href;
  } catch {
    // Not a URL: quote it as given.
  }
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

function errorText(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code !== undefined && !error.message.includes(code) ? `${error.message} (${code})` : error.message;
  }
  return String(error);
}
