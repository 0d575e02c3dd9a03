import { ApiError } from '../server/errors.js';
import { compileAllowList } from '../server/net/address-policy.js';
import { parseFetchUrl, safeFetch, untilAborted } from '../server/net/safe-fetch.js';
import { ModelLoadError } from '../errors.js';
import { invalidParameter, isPlainObject, isString, optionalString } from '../util/is.js';
import type { ChatRequest, PromptLanguageModel } from './language-model.js';

export interface ChatEndpointOptions {
  /**
   * The OpenAI-compatible API's base URL (http://127.0.0.1:8080/v1 for a llama.cpp server, http://127.0.0.1:11434/v1
   * for ollama) or its /chat/completions URL.
   */
  url: string;
  /** The `model` field of each request (ollama needs one; a llama.cpp server ignores it). Default 'default'. */
  model?: string;
  /** Sent as a bearer token. */
  apiKey?: string;
  /** The longest answer accepted, in bytes. Default 256 KiB. */
  maxBytes?: number;
}

const DEFAULT_MAX_BYTES = 256 * 1024;
/** The endpoint's own limit when the caller's signal has none. */
const REQUEST_TIMEOUT_MS = 120_000;

/**
 * A chat model behind an OpenAI-compatible /chat/completions endpoint, reached through the server's SSRF-guarded
 * client. The operator configured this URL, so its host is allowed explicitly (a loopback llama.cpp server is the
 * usual case), and only that host: redirects elsewhere still meet the block on private addresses.
 */
export class ChatEndpointModel implements PromptLanguageModel {
  readonly description: string;
  readonly #url: URL;
  readonly #model: string;
  readonly #apiKey: string | undefined;
  readonly #maxBytes: number;
  readonly #allow;

  constructor(options: ChatEndpointOptions) {
    if (!isPlainObject(options) || !isString(options.url)) throw invalidParameter('promptEnhancerUrl', 'http(s) URL of an OpenAI-compatible API', options?.url);
    let url: URL;
    try {
      url = parseFetchUrl(options.url);
    } catch (err) {
      throw invalidParameter('promptEnhancerUrl', `http(s) URL of an OpenAI-compatible API (${(err as Error).message})`, options.url);
    }
    if (!url.pathname.endsWith('/chat/completions')) url = new URL(`${url.pathname.replace(/\/+$/, '')}/chat/completions`, url);
    this.#url = url;
    this.description = url.href;
    this.#model = optionalString('promptEnhancerModel', options.model) ?? 'default';
    this.#apiKey = optionalString('promptEnhancerKey', options.apiKey);
    this.#maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
    this.#allow = compileAllowList([url.hostname.replace(/^\[(.*)\]$/, '$1')]);
  }

  async complete({ system, user, maxTokens, signal, timeoutMs }: ChatRequest): Promise<string> {
    signal?.throwIfAborted();
    const body = JSON.stringify({
      model: this.#model,
      messages: [{ role: 'system', content: system }, { role: 'user', content: user }],
      max_tokens: maxTokens,
      temperature: 0.7,
      stream: false,
    });
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
    if (this.#apiKey) headers.authorization = `Bearer ${this.#apiKey}`;
    const request = safeFetch(this.#url.href, {
      method: 'POST', headers, body, maxBytes: this.#maxBytes, timeoutMs: timeoutMs ?? REQUEST_TIMEOUT_MS, allow: this.#allow, maxRedirects: 0,
    });
    const response = await (signal ? untilAborted(request, signal) : request).catch((err: unknown) => {
      if (err instanceof ApiError) throw new ModelLoadError(`the prompt enhancer at ${this.description} failed: ${err.message}`);
      throw err;
    });
    if (response.status < 200 || response.status >= 300) {
      throw new ModelLoadError(`the prompt enhancer at ${this.description} answered ${response.status} ${response.statusText}: ${response.body.toString('utf8').slice(0, 200)}`.trimEnd());
    }
    let content: unknown;
    try {
      content = (JSON.parse(response.body.toString('utf8')) as { choices?: { message?: { content?: unknown } }[] }).choices?.[0]?.message?.content;
    } catch {
      content = undefined;
    }
    if (!isString(content)) throw new ModelLoadError(`the prompt enhancer at ${this.description} did not answer with an OpenAI chat completion (choices[0].message.content)`);
    return content;
  }

  async dispose(): Promise<void> {
    // Nothing held: every request is its own connection.
  }
}
