import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError } from '../../src/server/errors.js';
import { addressRefusal, compileAllowList } from '../../src/server/net/address-policy.js';
import { assertSuccessStatus, parseFetchUrl, safeFetch, type SafeFetchOptions } from '../../src/server/net/safe-fetch.js';

const LOCAL = ['127.0.0.1/32'];
const base: SafeFetchOptions = { maxBytes: 1024, timeoutMs: 2000 };

/** The ApiError a promise rejects with (failing the test when it resolves or rejects with something else). */
async function apiError(promise: Promise<unknown>): Promise<ApiError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(ApiError);
  return error as ApiError;
}

let server: http.Server;
let origin: string;
const received: Array<{ url: string; host: string | undefined }> = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    received.push({ url: req.url ?? '', host: req.headers.host });
    const url = new URL(req.url ?? '/', 'http://x');
    switch (url.pathname) {
      case '/image':
        res.writeHead(200, { 'Content-Type': 'image/png' }).end(Buffer.from('not really a png'));
        return;
      case '/html':
        res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end('<p>hi</p>');
        return;
      case '/big-declared':
        res.writeHead(200, { 'Content-Type': 'image/png', 'Content-Length': '5000' }).end(Buffer.alloc(5000));
        return;
      case '/big-chunked':
        res.writeHead(200, { 'Content-Type': 'image/png' });
        for (let i = 0; i < 10; i++) res.write(Buffer.alloc(500));
        res.end();
        return;
      case '/never':
        return; // never answers
      case '/stall-body':
        res.writeHead(200, { 'Content-Type': 'image/png' });
        res.write('a little');
        return; // never ends
      case '/missing':
        res.writeHead(404, { 'Content-Type': 'text/plain' }).end('nope');
        return;
      case '/echo':
        res.writeHead(200, { 'Content-Type': 'application/json' });
        req.pipe(res);
        return;
      case '/redirect':
        res.writeHead(Number(url.searchParams.get('status') ?? 302), { Location: url.searchParams.get('to') ?? '/image' }).end();
        return;
      default:
        res.writeHead(500).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe('safeFetch refuses addresses inside the server network', () => {
  it.each([
    ['http://127.0.0.1/x', /127\.0\.0\.1 is a loopback address \(allow it with --allow-host \(server option allowHosts\)\)/],
    ['http://[::1]/x', /::1 is a loopback address/],
    ['http://169.254.169.254/latest/meta-data/', /169\.254\.169\.254 is a link-local address/],
    ['http://10.0.0.1/', /10\.0\.0\.1 is a private address/],
    ['http://192.168.1.1/', /192\.168\.1\.1 is a private address/],
    ['http://172.16.5.4/', /private address/],
    ['http://100.64.0.1/', /carrier-grade NAT/],
    ['http://0.0.0.0/', /0\.0\.0\.0 is an unspecified address/],
    ['http://255.255.255.255/', /broadcast/],
    ['http://224.0.0.1/', /multicast/],
    ['http://[fe80::1]/', /link-local/],
    ['http://[fd00::1]/', /unique-local/],
    ['http://[::ffff:127.0.0.1]/', /loopback address \(as 127\.0\.0\.1\)/],
    ['http://[::ffff:169.254.169.254]/', /link-local address \(as 169\.254\.169\.254\)/],
    ['http://[64:ff9b::10.0.0.1]/', /private address \(as 10\.0\.0\.1\)/],
    // Numeric forms of 127.0.0.1, which the URL parser turns into the dotted form before any check.
    ['http://2130706433/', /127\.0\.0\.1 is a loopback address/],
    ['http://0x7f.1/', /127\.0\.0\.1 is a loopback address/],
    ['http://017700000001/', /127\.0\.0\.1 is a loopback address/],
    ['http://127.1/', /127\.0\.0\.1 is a loopback address/],
  ])('%s', async (url, reason) => {
    const error = await apiError(safeFetch(url, base));
    expect(error.statusCode).toBe(400);
    expect(error.code).toBe('url_not_allowed');
    expect(error.message).toMatch(/^Refusing to fetch http:\/\//);
    expect(error.message).toMatch(reason);
  });

  it('refuses localhost by what it resolves to', async () => {
    const error = await apiError(safeFetch('http://localhost:1/', base));
    expect(error.code).toBe('url_not_allowed');
    expect(error.message).toMatch(/localhost resolves to (127\.0\.0\.1|::1), a loopback address/);
  });

  it('refuses a host when any one of its addresses is private', async () => {
    const resolveHost = async () => [{ address: '93.184.216.34', family: 4 }, { address: '10.1.2.3', family: 4 }];
    const error = await apiError(safeFetch('http://mixed.example/', { ...base, resolveHost }));
    expect(error.message).toMatch(/mixed\.example resolves to 10\.1\.2\.3, a private address/);
  });

  it.each(['ftp://example.com/a.png', 'file:///etc/passwd', 'data:image/png;base64,AAAA', 'gopher://example.com/'])(
    'refuses the scheme of %s', async (url) => {
      const error = await apiError(safeFetch(url, base));
      expect(error.code).toBe('url_not_allowed');
      expect(error.message).toMatch(/only http and https URLs are fetched/);
    });

  it('refuses malformed URLs and credentials, without echoing the password', async () => {
    expect((await apiError(safeFetch('not a url', base))).code).toBe('url_invalid');
    const error = await apiError(safeFetch('http://user:hunter2@example.com/', base));
    expect(error.code).toBe('url_invalid');
    expect(error.message).not.toContain('hunter2');
    expect(() => parseFetchUrl('https://example.com/a.png')).not.toThrow();
  });

  it('refuses a redirect from an allowed host to a blocked address', async () => {
    const count = received.length;
    const error = await apiError(safeFetch(`${origin}/redirect?to=${encodeURIComponent('http://169.254.169.254/latest/meta-data/')}`, { ...base, allow: LOCAL }));
    expect(error.code).toBe('url_not_allowed');
    expect(error.message).toMatch(/Refusing to fetch http:\/\/169\.254\.169\.254\/latest\/meta-data\/: .* link-local/);
    expect(received.length).toBe(count + 1);
  });
});

describe('safeFetch with the local server allow-listed', () => {
  it('returns status, content type, body and final URL', async () => {
    const response = await safeFetch(`${origin}/image`, { ...base, allow: LOCAL });
    expect(response.status).toBe(200);
    expect(response.contentType).toBe('image/png');
    expect(response.body.toString()).toBe('not really a png');
    expect(response.url).toBe(`${origin}/image`);
  });

  it('accepts allow-list entries as a bare address, a wider range or a host name', async () => {
    for (const allow of [['127.0.0.1'], ['127.0.0.0/8'], ['::ffff:127.0.0.1']]) {
      expect((await safeFetch(`${origin}/image`, { ...base, allow })).status).toBe(200);
    }
    const port = new URL(origin).port;
    const viaName = await safeFetch(`http://LocalHost:${port}/image`, { ...base, allow: ['localhost.'] });
    expect(viaName.status).toBe(200);
  });

  it('connects to the address it checked, keeping the host name for the Host header', async () => {
    const port = new URL(origin).port;
    const resolveHost = async () => [{ address: '127.0.0.1', family: 4 }];
    const response = await safeFetch(`http://images.test:${port}/image`, { ...base, allow: LOCAL, resolveHost });
    expect(response.status).toBe(200);
    expect(received.at(-1)).toEqual({ url: '/image', host: `images.test:${port}` });
  });

  it('sends a POST body', async () => {
    const response = await safeFetch(`${origin}/echo`, { ...base, allow: LOCAL, method: 'POST', body: '{"a":1}', headers: { 'Content-Type': 'application/json' } });
    expect(response.body.toString()).toBe('{"a":1}');
  });

  it('follows redirects within the allow-list, up to maxRedirects', async () => {
    const hop = `/redirect?to=${encodeURIComponent('/image')}`;
    const response = await safeFetch(`${origin}${hop}`, { ...base, allow: LOCAL });
    expect(response.url).toBe(`${origin}/image`);
    expect(response.body.toString()).toBe('not really a png');

    const twice = `/redirect?to=${encodeURIComponent(hop)}`;
    const error = await apiError(safeFetch(`${origin}${twice}`, { ...base, allow: LOCAL, maxRedirects: 1 }));
    expect(error.code).toBe('url_fetch_failed');
    expect(error.message).toMatch(/gave up after 1 redirects/);
    expect((await apiError(safeFetch(`${origin}${hop}`, { ...base, allow: LOCAL, maxRedirects: 0 }))).message).toMatch(/redirects are not followed/);
  });

  it('refuses a body larger than maxBytes, declared or not', async () => {
    for (const path of ['/big-declared', '/big-chunked']) {
      const error = await apiError(safeFetch(`${origin}${path}`, { ...base, allow: LOCAL, maxBytes: 1000 }));
      expect(error.code).toBe('url_too_large');
      expect(error.message).toMatch(/larger than 1000 bytes/);
    }
    expect((await safeFetch(`${origin}/big-chunked`, { ...base, allow: LOCAL, maxBytes: 5000 })).body.length).toBe(5000);
  });

  it('times out on a server that never answers, or never finishes', async () => {
    for (const path of ['/never', '/stall-body']) {
      const error = await apiError(safeFetch(`${origin}${path}`, { ...base, allow: LOCAL, timeoutMs: 300 }));
      expect(error.code).toBe('url_timeout');
      expect(error.message).toBe(`Timed out fetching ${origin}${path} after 300 ms`);
    }
  });

  it('checks the content type of a successful answer before reading it', async () => {
    const acceptContentType = (type: string) => type.startsWith('image/');
    expect((await safeFetch(`${origin}/image`, { ...base, allow: LOCAL, acceptContentType })).status).toBe(200);
    const error = await apiError(safeFetch(`${origin}/html`, { ...base, allow: LOCAL, acceptContentType }));
    expect(error.code).toBe('url_bad_content_type');
    expect(error.message).toMatch(/content type "text\/html" is not accepted/);
  });

  it('returns a non-2xx answer for the caller to judge', async () => {
    const response = await safeFetch(`${origin}/missing`, { ...base, allow: LOCAL, acceptContentType: () => false });
    expect(response.status).toBe(404);
    const error = (() => { try { assertSuccessStatus(response); } catch (e) { return e as ApiError; } })();
    expect(error?.code).toBe('url_fetch_failed');
    expect(error?.message).toBe(`${origin}/missing answered 404 Not Found`);
  });

  it('reports a connection failure', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const error = await apiError(safeFetch(`http://127.0.0.1:${port}/`, { ...base, allow: LOCAL }));
    expect(error.code).toBe('url_fetch_failed');
    expect(error.message).toMatch(/ECONNREFUSED/);
  });
});

describe('address policy', () => {
  it('passes public unicast addresses, v4 and v6', () => {
    for (const address of ['93.184.216.34', '8.8.8.8', '2606:4700:4700::1111', '::ffff:8.8.8.8', '64:ff9b::808:808']) {
      expect(addressRefusal(address)).toBeUndefined();
    }
  });

  it('judges IPv4-compatible and translated IPv6 forms by their IPv4 address', () => {
    expect(addressRefusal('::7f00:1')).toMatch(/loopback/);
    expect(addressRefusal('::ffff:0:a00:1')).toMatch(/private/);
    expect(addressRefusal('2002:7f00:1::1')).toMatch(/6to4/);
  });

  it('exempts allow-listed ranges only', () => {
    const allow = compileAllowList(['10.0.0.0/8', 'fd00::/8']);
    expect(addressRefusal('10.200.0.1', allow)).toBeUndefined();
    expect(addressRefusal('::ffff:10.200.0.1', allow)).toBeUndefined();
    expect(addressRefusal('fd12::1', allow)).toBeUndefined();
    expect(addressRefusal('192.168.0.1', allow)).toMatch(/private/);
  });

  it('rejects an allow-list entry that is neither a host nor an address', () => {
    expect(() => compileAllowList(['10.0.0.0/99'])).toThrow(/Expected a host name, IP address or CIDR range in --allow-host \(server option allowHosts\) but received "10\.0\.0\.0\/99"/);
    expect(() => compileAllowList(['http://x/'])).toThrow(/--allow-host/);
  });
});
