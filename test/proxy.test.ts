import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { pullModel } from '../src/index.js';
import { safeFetch } from '../src/server/net/safe-fetch.js';
import { postWebhook } from '../src/server/webhooks/post-webhook.js';
import { proxyFor } from '../src/util/proxy.js';
import { startFakeHub, tinyCheckpointBytes, type FakeHub } from './helpers/fake-hub.js';
import { tempDir } from './helpers/models.js';

/** A forward proxy on loopback, as a corporate one works: absolute-form HTTP requests and CONNECT tunnels. */
interface ForwardProxy {
  url: string;
  /** 'GET http://127.0.0.1:1234/path' for forwarded requests, 'CONNECT 127.0.0.1:1234' for tunnels. */
  seen: string[];
  close(): Promise<void>;
}

const isLoopback = (host: string) => host === '127.0.0.1' || host === 'localhost' || host === '[::1]' || host === '::1';

async function startForwardProxy(): Promise<ForwardProxy> {
  const seen: string[] = [];
  const server = http.createServer((request, response) => {
    seen.push(`${request.method} ${request.url}`);
    const target = new URL(request.url!);
    // Only loopback targets, ever: this proxy is for tests.
    if (target.protocol !== 'http:' || !isLoopback(target.hostname)) return void response.writeHead(403).end();
    const upstream = http.request(target, { method: request.method, headers: request.headers }, (answer) => {
      response.writeHead(answer.statusCode!, answer.statusMessage, answer.headers);
      answer.pipe(response);
    });
    upstream.on('error', () => response.destroy());
    request.pipe(upstream);
  });
  server.on('connect', (request: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    seen.push(`CONNECT ${request.url}`);
    const { hostname, port } = new URL(`http://${request.url}`);
    if (!isLoopback(hostname)) return void client.end('HTTP/1.1 403 Forbidden\r\n\r\n');
    const upstream = net.connect(Number(port), hostname.replace(/^\[(.*)\]$/, '$1'), () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

const PROXY_VARIABLES = ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'NO_PROXY', 'no_proxy', 'HF_ENDPOINT', 'HF_TOKEN'];

describe('HTTP(S)_PROXY and NO_PROXY', () => {
  let proxy: ForwardProxy;
  let hub: FakeHub;
  let receiver: http.Server;
  let receiverUrl: string;
  const received: { headers: http.IncomingHttpHeaders; body: string }[] = [];
  const saved = Object.fromEntries(PROXY_VARIABLES.map((name) => [name, process.env[name]]));

  beforeAll(async () => {
    proxy = await startForwardProxy();
    hub = await startFakeHub({ 'acme/tiny': { files: { 'tiny.safetensors': { body: tinyCheckpointBytes(tempDir(), 3) } } } });
    receiver = http.createServer((request, response) => {
      let body = '';
      request.on('data', (chunk) => (body += chunk));
      request.on('end', () => {
        received.push({ headers: request.headers, body });
        response.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  });

  afterEach(() => {
    for (const name of PROXY_VARIABLES) delete process.env[name];
    proxy.seen.length = 0;
    hub.requests.length = 0;
    received.length = 0;
  });

  afterAll(async () => {
    await Promise.all([proxy.close(), hub.close(), new Promise((resolve) => receiver.close(resolve))]);
    for (const [name, value] of Object.entries(saved)) if (value !== undefined) process.env[name] = value;
  });

  it('chooses the proxy the way curl does', () => {
    const env = { HTTPS_PROXY: 'http://corp:3128', http_proxy: 'corp-http:8080', NO_PROXY: 'localhost, .internal.example,10.1.2.3,[::1]:8443' };
    expect(proxyFor('https://huggingface.co/x', env)?.href).toBe('http://corp:3128/');
    expect(proxyFor('http://example.com/', env)?.href).toBe('http://corp-http:8080/');
    expect(proxyFor('https://cdn.internal.example/', env)).toBeUndefined();
    expect(proxyFor('https://internal.example/', env)).toBeUndefined();
    expect(proxyFor('http://localhost:7860/', env)).toBeUndefined();
    expect(proxyFor('http://10.1.2.3/', env)).toBeUndefined();
    expect(proxyFor('https://[::1]:8443/', env)).toBeUndefined();
    expect(proxyFor('https://[::1]/', env)?.href).toBe('http://corp:3128/');
    expect(proxyFor('https://notinternal.example/', env)?.href).toBe('http://corp:3128/');
    expect(proxyFor('https://a/', { HTTP_PROXY: 'http://corp:1' })?.href).toBe('http://corp:1/');
    expect(proxyFor('https://a/', { HTTP_PROXY: 'http://corp:1', NO_PROXY: '*' })).toBeUndefined();
    expect(proxyFor('https://a/', {})).toBeUndefined();
  });

  it('pulls a model from the Hub through the proxy, and directly when NO_PROXY names the Hub', async () => {
    process.env.HF_ENDPOINT = hub.url;
    process.env.HTTP_PROXY = proxy.url;
    const result = await pullModel('acme/tiny:tiny.safetensors', { dir: tempDir(), retryDelayMs: 5 });
    expect(result.downloaded).toBe(true);
    // The Hub's answers (the API, the resolve URL, the CDN's bytes) came through the proxy's tunnels (undici's ProxyAgent
    // tunnels http too), kept alive across requests.
    expect(hub.cdnRequests()).toHaveLength(1);
    expect(proxy.seen.length).toBeGreaterThan(0);
    expect(proxy.seen).toContain(`CONNECT ${new URL(hub.url).host}`);
    for (const line of proxy.seen) expect(line).toMatch(/^CONNECT 127\.0\.0\.1:\d+$/); // the Hub, and its CDN on a port of its own

    proxy.seen.length = 0;
    process.env.NO_PROXY = '127.0.0.1';
    expect((await pullModel('acme/tiny:tiny.safetensors', { dir: tempDir(), retryDelayMs: 5 })).downloaded).toBe(true);
    expect(proxy.seen).toEqual([]);
  });

  it('delivers a webhook through a CONNECT tunnel to the address the SSRF policy checked', async () => {
    process.env.HTTP_PROXY = proxy.url;
    const hostUrl = receiverUrl.replace('127.0.0.1', 'localhost');
    const outcome = await postWebhook(hostUrl, '{"status":"success"}', 'sig', '42', { allow: ['localhost', '127.0.0.1'], timeoutMs: 5000 });
    expect(outcome).toEqual({ delivered: true, lastStatus: 204 });
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({ body: '{"status":"success"}', headers: { host: new URL(hostUrl).host, 'x-diffusekit-job': '42' } });
    // The tunnel goes to the resolved address, not to the name the proxy could resolve differently.
    const port = new URL(receiverUrl).port;
    expect(proxy.seen).toHaveLength(1);
    expect(proxy.seen[0]).toMatch(new RegExp(`^CONNECT (127\\.0\\.0\\.1|\\[::1\\]):${port}$`));
  });

  it('still refuses a private target before the proxy is asked', async () => {
    process.env.HTTP_PROXY = proxy.url;
    const outcome = await postWebhook(receiverUrl, '{}', 'sig', '43', { timeoutMs: 5000 });
    expect(outcome).toMatchObject({ delivered: false, permanent: true });
    expect((outcome as { error: string }).error).toMatch(/Refusing to fetch .*127\.0\.0\.1/);
    const refused = await safeFetch(receiverUrl.replace('127.0.0.1', 'localhost'), { maxBytes: 1000, timeoutMs: 5000 }).catch((error: unknown) => error);
    expect(refused).toMatchObject({ statusCode: 400, code: 'url_not_allowed' });
    expect(proxy.seen).toEqual([]);
    expect(received).toEqual([]);
  });

  it('reports a proxy that refuses the tunnel', async () => {
    process.env.HTTP_PROXY = proxy.url;
    // The proxy refuses every target that is not loopback; the policy lets this one through by its allow list.
    const error = await safeFetch('http://10.255.255.1:9/x', { maxBytes: 1000, timeoutMs: 5000, allow: ['10.255.255.1'] }).catch((e: unknown) => e);
    expect(error).toMatchObject({ statusCode: 400, code: 'url_fetch_failed' });
    expect((error as Error).message).toContain('the proxy 127.0.0.1');
    expect((error as Error).message).toContain('403');
    expect(proxy.seen).toEqual(['CONNECT 10.255.255.1:9']);
  });
});
