import net from 'node:net';

/**
 * The proxy for a URL from the environment, as curl and undici read it: HTTPS_PROXY for https URLs (else
 * HTTP_PROXY), HTTP_PROXY for http URLs, the lower-case names too; undefined when none is set or NO_PROXY
 * exempts the host. NO_PROXY is a comma- or space-separated list of host names (`example.com` also covers its
 * sub-domains; `.example.com` and `*.example.com` the same), IP addresses, optional `:port`, or `*` for all.
 */
export function proxyFor(url: URL | string, env: NodeJS.ProcessEnv = process.env): URL | undefined {
  const target = typeof url === 'string' ? new URL(url) : url;
  const http = env.HTTP_PROXY || env.http_proxy;
  const chosen = target.protocol === 'https:' ? env.HTTPS_PROXY || env.https_proxy || http : target.protocol === 'http:' ? http : undefined;
  if (!chosen || exempt(target, env.NO_PROXY ?? env.no_proxy ?? '')) return undefined;
  // "proxy:3128" without a scheme is common in the wild; curl reads it as http.
  return new URL(/^[a-z][a-z\d+.-]*:\/\//i.test(chosen) ? chosen : `http://${chosen}`);
}

function exempt(target: URL, noProxy: string): boolean {
  const host = target.hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  const port = target.port || (target.protocol === 'https:' ? '443' : '80');
  for (const raw of noProxy.split(/[\s,]+/)) {
    const entry = raw.trim().toLowerCase();
    if (entry === '') continue;
    if (entry === '*') return true;
    let name = entry;
    let entryPort: string | undefined;
    const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
    if (bracketed) [, name, entryPort] = bracketed as unknown as [string, string, string | undefined];
    else if (!net.isIPv6(entry)) [, name, entryPort] = /^(.*?)(?::(\d+))?$/.exec(entry) as unknown as [string, string, string | undefined];
    if (entryPort !== undefined && entryPort !== port) continue;
    name = name.replace(/^\*?\./, '');
    if (host === name || (net.isIP(host) === 0 && host.endsWith(`.${name}`))) return true;
  }
  return false;
}

const agents = new Map<string, import('undici').ProxyAgent>();

/**
 * fetch() through the environment's proxy when one applies to `url` (undici's ProxyAgent, which tunnels with
 * CONNECT), else the global fetch. undici is loaded only when a proxy is in use.
 */
export async function proxyAwareFetch(url: URL | string, init: RequestInit = {}): Promise<Response> {
  const proxy = proxyFor(url);
  if (!proxy) return fetch(url, init);
  const undici = await import('undici');
  let agent = agents.get(proxy.href);
  if (!agent) agents.set(proxy.href, (agent = new undici.ProxyAgent(proxy.href)));
  const response = await undici.fetch(url, { ...(init as object), dispatcher: agent });
  return response as unknown as Response;
}
