import fs from 'node:fs/promises';
import path from 'node:path';
import { AbortError, DownloadError, ModelFileError } from '../errors.js';
import { integerIn, invalidParameter, isString, optionalFunction, optionalSignal, optionalString } from '../util/is.js';
import { proxyAwareFetch } from '../util/proxy.js';
import { findAlias, libraryFileName, MODEL_ALIASES, type ModelAlias } from './aliases.js';
import { downloadFile, type DownloadProgress } from './download.js';
import { libraryDir, PARTIAL_DIR, type LibraryOptions } from './library.js';
import { readManifest, updateManifest, type PulledFile } from './library-manifest.js';

export type { DownloadProgress } from './download.js';

export const DEFAULT_HUB_ENDPOINT = 'https://huggingface.co';

/** Connection to the Hugging Face Hub, or a mirror of it. */
export interface HubOptions {
  /** Default $HF_ENDPOINT, else https://huggingface.co. */
  endpoint?: string;
  /** Access token for gated and private repositories; default $HF_TOKEN. */
  token?: string;
  signal?: AbortSignal;
}

export interface PullOptions extends LibraryOptions, HubOptions {
  /** Branch, tag or commit. Default 'main'. */
  revision?: string;
  onProgress?: (event: DownloadProgress) => void;
  /** The aliases `source` may name; default the built-in table (MODEL_ALIASES). */
  aliases?: readonly ModelAlias[];
  /** Retries of a dropped connection, each resuming. Default 4. */
  retries?: number;
  /** First wait before a retry, doubled each time. Default 1000 ms. */
  retryDelayMs?: number;
}

export interface PullResult {
  /** The library name (file name without extension) that loads it. */
  name: string;
  fileName: string;
  path: string;
  alias?: string;
  repo: string;
  file: string;
  revision: string;
  commit?: string;
  sha256: string;
  size: number;
  /** False when the library already held these exact bytes. */
  downloaded: boolean;
}

interface Hub {
  endpoint: string;
  token: string | undefined;
  signal: AbortSignal | undefined;
}

export interface ModelSource {
  alias?: ModelAlias;
  repo: string;
  /** Absent: the repository's single checkpoint. */
  file?: string;
}

const REPO_REFERENCE = /^([\w.-]+\/[\w.-]+)(?::(.+))?$/;

/** An alias (sd-1.5) or owner/repo[:path/to/file]. */
export function parseModelSource(source: string, aliases: readonly ModelAlias[] = MODEL_ALIASES): ModelSource {
  const alias = findAlias(source, aliases);
  if (alias) return { alias, repo: alias.repo, file: alias.file };
  const match = REPO_REFERENCE.exec(source);
  if (!match) throw invalidParameter('source', `an alias (${aliases.map((a) => a.name).join(', ')}) or owner/repo[:file]`, source);
  return { repo: match[1], file: match[2] };
}

function connect(options: HubOptions): Hub {
  const endpoint = (optionalString('endpoint', options.endpoint) ?? (process.env.HF_ENDPOINT || DEFAULT_HUB_ENDPOINT)).replace(/\/+$/, '');
  if (!/^https?:\/\/[^/]+/.test(endpoint)) throw invalidParameter('endpoint', 'http(s) URL such as https://huggingface.co', endpoint);
  const token = optionalString('token', options.token) ?? (process.env.HF_TOKEN || process.env.HUGGING_FACE_HUB_TOKEN || undefined);
  return { endpoint, token, signal: optionalSignal('signal', options.signal) };
}

const authorization = (hub: Hub): Record<string, string> => (hub.token ? { Authorization: `Bearer ${hub.token}` } : {});
const encodePath = (file: string) => file.split('/').map(encodeURIComponent).join('/');
const resolveUrl = (hub: Hub, repo: string, revision: string, file: string) =>
  `${hub.endpoint}/${repo}/resolve/${encodeURIComponent(revision)}/${encodePath(file)}`;

/** The error for a refusal of the Hub, in words that say what to do. */
function hubError(hub: Hub, response: Response, what: { repo: string; revision: string; file?: string }): DownloadError {
  const { status } = response;
  const code = response.headers.get('x-error-code');
  const page = `${hub.endpoint}/${what.repo}`;
  if (code === 'RepositoryNotFound') {
    return new DownloadError('not-found', `repository ${what.repo} not found on ${hub.endpoint}${hub.token ? '' : ' (if it is private, set HF_TOKEN)'}`, { status });
  }
  if (code === 'RevisionNotFound') return new DownloadError('not-found', `${what.repo} has no revision '${what.revision}'`, { status });
  if (code === 'EntryNotFound' || (status === 404 && what.file)) {
    return new DownloadError('not-found', `${what.repo} has no file ${what.file ?? ''} at revision '${what.revision}' (files: ${page}/tree/${what.revision})`, { status });
  }
  if (status === 401 || status === 403) {
    const message = hub.token
      ? `${what.repo} is gated and HF_TOKEN has no access to it (${status}): accept its license on ${page} with the token's account, and give the token read access`
      : `${what.repo} is gated (or private): accept its license on ${page}, then set HF_TOKEN to an access token (${hub.endpoint}/settings/tokens)`;
    return new DownloadError('gated', message, { status });
  }
  if (status === 404) return new DownloadError('not-found', `repository ${what.repo} not found on ${hub.endpoint}`, { status });
  return new DownloadError('http', `${hub.endpoint} answered ${status} ${response.statusText} for ${what.repo}${what.file ? `:${what.file}` : ''}`, { status });
}

async function hubFetch(hub: Hub, url: string, init: RequestInit): Promise<Response> {
  try {
    return await proxyAwareFetch(url, { ...init, headers: { ...authorization(hub), ...init.headers }, signal: hub.signal });
  } catch (err) {
    if (hub.signal?.aborted) throw new AbortError('The pull was aborted', { cause: hub.signal.reason });
    throw new DownloadError('network', `cannot reach ${hub.endpoint} (${(err as Error).message}${(err as Error).cause ? `: ${((err as Error).cause as Error).message}` : ''})`, { cause: err });
  }
}

/** The files of a repository at a revision, and the commit it points to. */
export async function listRepoFiles(repo: string, options: HubOptions & { revision?: string } = {}): Promise<{ files: string[]; commit?: string }> {
  const hub = connect(options);
  const revision = options.revision ?? 'main';
  const response = await hubFetch(hub, `${hub.endpoint}/api/models/${repo}/revision/${encodeURIComponent(revision)}`, {});
  if (!response.ok) throw hubError(hub, response, { repo, revision });
  const info = (await response.json()) as { sha?: unknown; siblings?: { rfilename?: unknown }[] };
  const files = (info.siblings ?? []).map((s) => s.rfilename).filter(isString);
  return { files, commit: isString(info.sha) ? info.sha : undefined };
}

const CHECKPOINT_EXTENSIONS = ['.safetensors', '.gguf', '.sft'];

/** The one checkpoint of a repository: its single top-level .safetensors/.gguf (else its single nested one). */
export function pickCheckpoint(repo: string, files: string[]): string {
  const weights = files.filter((f) => CHECKPOINT_EXTENSIONS.some((e) => f.toLowerCase().endsWith(e)));
  const topLevel = weights.filter((f) => !f.includes('/'));
  const candidates = topLevel.length > 0 ? topLevel : weights;
  if (candidates.length === 1) return candidates[0];
  if (candidates.length === 0) {
    throw new DownloadError('no-file', `${repo} holds no .safetensors or .gguf file: name the file with 'diffusekit models pull ${repo}:FILE'`);
  }
  throw new DownloadError(
    'ambiguous',
    `${repo} holds ${candidates.length} checkpoint files; name one with 'diffusekit models pull ${repo}:FILE':\n${candidates.map((f) => `  ${f}`).join('\n')}`,
    { candidates },
  );
}

export interface HubFileInfo {
  /** The LFS sha256, when the file is stored in LFS (model weights are). */
  sha256?: string;
  size?: number;
  commit?: string;
}

/**
 * What the Hub says about a file, from a HEAD on its resolve URL: LFS files answer with a redirect to the CDN
 * that carries X-Linked-Etag (the sha256) and X-Linked-Size; small files answer 200 with their size.
 */
export async function hubFileInfo(repo: string, file: string, options: HubOptions & { revision?: string } = {}): Promise<HubFileInfo> {
  const hub = connect(options);
  const revision = options.revision ?? 'main';
  let url = resolveUrl(hub, repo, revision, file);
  for (let hop = 0; hop < 5; hop++) {
    const response = await hubFetch(hub, url, { method: 'HEAD', redirect: 'manual', headers: { 'Accept-Encoding': 'identity' } });
    const linkedEtag = response.headers.get('x-linked-etag');
    const commit = response.headers.get('x-repo-commit') ?? undefined;
    const location = response.headers.get('location');
    if (response.status >= 300 && response.status < 400 && location && !linkedEtag && new URL(location, url).origin === new URL(url).origin) {
      url = new URL(location, url).href; // a renamed repository: the Hub points at the new name
      continue;
    }
    if (response.status >= 400) throw hubError(hub, response, { repo, revision, file });
    const sha256 = linkedEtag?.replace(/^W\//, '').replace(/"/g, '');
    const size = Number(response.headers.get('x-linked-size') ?? (linkedEtag ? NaN : response.headers.get('content-length') ?? NaN));
    return { sha256: sha256 && /^[0-9a-f]{64}$/.test(sha256) ? sha256 : undefined, size: Number.isFinite(size) ? size : undefined, commit };
  }
  throw new DownloadError('http', `${repo}:${file}: too many redirects from ${hub.endpoint}`);
}

async function exists(file: string): Promise<boolean> {
  return (await fs.stat(file).catch(() => undefined)) !== undefined;
}

/** The library file name for a pull: the Hub's, unless another model already has it. */
async function chooseFileName(dir: string, source: ModelSource, file: string): Promise<string> {
  const base = libraryFileName({ file, saveAs: source.alias?.saveAs });
  const [owner, name] = source.repo.split('/');
  const manifest = readManifest(dir);
  for (const candidate of [base, `${name}-${base}`, `${owner}-${name}-${base}`]) {
    const recorded = manifest.files[candidate];
    if (recorded ? recorded.repo === source.repo && recorded.file === file : !(await exists(path.join(dir, candidate)))) return candidate;
  }
  throw new ModelFileError(path.join(dir, base), `the library already holds other files named ${base}: remove one with 'diffusekit models rm'`);
}

/**
 * Downloads a model into the library: an alias (sd-1.5, sdxl...: MODEL_ALIASES) or `owner/repo[:file]` (without
 * a file, the repository's single checkpoint). Resumes an interrupted pull, verifies the sha256 and size the
 * Hub lists, then moves the file into the library and records its source in the manifest. Gated repositories
 * need HF_TOKEN (and the license accepted on the Hub).
 */
export async function pullModel(source: string, options: PullOptions = {}): Promise<PullResult> {
  if (!isString(source) || source.length === 0) throw invalidParameter('source', 'an alias or owner/repo[:file]', source);
  const parsed = parseModelSource(source, options.aliases ?? MODEL_ALIASES);
  const revision = optionalString('revision', options.revision) ?? 'main';
  const onProgress = optionalFunction<PullOptions['onProgress']>('onProgress', options.onProgress);
  const retries = integerIn('retries', options.retries, 0, 100, 4);
  const retryDelayMs = integerIn('retryDelayMs', options.retryDelayMs, 0, 600_000, 1000);
  const hub = connect(options);
  const hubOptions = { endpoint: hub.endpoint, token: hub.token, signal: hub.signal, revision };
  const dir = libraryDir(options.dir);

  let commit: string | undefined;
  let file = parsed.file;
  if (file === undefined) {
    const listing = await listRepoFiles(parsed.repo, hubOptions);
    commit = listing.commit;
    file = pickCheckpoint(parsed.repo, listing.files);
  }
  const info = await hubFileInfo(parsed.repo, file, hubOptions);
  commit = info.commit ?? commit;
  const fileName = await chooseFileName(dir, parsed, file);
  const destination = path.join(dir, fileName);
  const record = (sha256: string, size: number): PulledFile => ({
    repo: parsed.repo, file, revision, ...(commit && { commit }), sha256, size, pulledAt: new Date().toISOString(),
    ...(parsed.alias && { family: parsed.alias.family, role: parsed.alias.role }),
  });
  const remember = (pulled: PulledFile) =>
    updateManifest(dir, (manifest) => {
      manifest.files[fileName] = pulled;
      if (parsed.alias) manifest.aliases[parsed.alias.name] = fileName;
    });
  const result = (pulled: PulledFile, downloaded: boolean): PullResult => ({
    name: fileName.slice(0, fileName.length - path.extname(fileName).length), fileName, path: destination,
    ...(parsed.alias && { alias: parsed.alias.name }), repo: parsed.repo, file: pulled.file, revision, ...(pulled.commit && { commit: pulled.commit }),
    sha256: pulled.sha256, size: pulled.size, downloaded,
  });

  const held = readManifest(dir).files[fileName];
  const size = (await fs.stat(destination).catch(() => undefined))?.size;
  if (held && info.sha256 !== undefined && held.sha256 === info.sha256 && size === held.size) {
    const pulled = { ...held, revision, ...(commit && { commit }) };
    remember(pulled);
    return result(pulled, false);
  }

  const downloaded = await downloadFile({
    url: resolveUrl(hub, parsed.repo, revision, file),
    headers: authorization(hub),
    partial: path.join(dir, PARTIAL_DIR, `${fileName}.part`),
    destination,
    file: fileName,
    expected: { sha256: info.sha256, size: info.size },
    httpError: (response) => hubError(hub, response, { repo: parsed.repo, revision, file }),
    onProgress,
    signal: hub.signal,
    retries,
    retryDelayMs,
  });
  const pulled = record(downloaded.sha256, downloaded.size);
  remember(pulled);
  return result(pulled, true);
}
