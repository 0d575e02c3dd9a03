import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DownloadError, ModelFileError } from '../errors.js';
import { findAlias, MODEL_ALIASES, type ModelAlias } from './aliases.js';
import { pickCheckpoint } from './hub.js';

/**
 * The Hugging Face Hub cache that huggingface_hub (and so diffusers, transformers, `huggingface-cli download`)
 * fills: $HF_HUB_CACHE, else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub.
 */
export function hubCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const explicit = env.HF_HUB_CACHE || env.HUGGINGFACE_HUB_CACHE;
  if (explicit) return path.resolve(explicit);
  const home = env.HF_HOME || path.join(env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'huggingface');
  return path.join(path.resolve(home), 'hub');
}

const REPO_REFERENCE = /^([\w.-]+)\/([\w.-]+)(?::(.+))?$/;
const COMMIT = /^[0-9a-f]{40}$/;

export interface HubCacheOptions {
  /** The cache folder; default hubCacheDir(). */
  cacheDir?: string;
  /** Branch, tag or commit (a ref under refs/, or a snapshot's commit). Default 'main'. */
  revision?: string;
  aliases?: readonly ModelAlias[];
}

/**
 * A model in the Hub cache, by the name a pull would use: owner/repo (its single checkpoint), owner/repo:file,
 * or an alias (sd-1.5...). The cache keeps models--owner--repo/refs/<revision> (a commit), snapshots/<commit>/
 * <file> (links into blobs/); the snapshot path is returned, so the file keeps its name. Undefined when the
 * cache does not hold it.
 */
export async function findInHubCache(reference: string, options: HubCacheOptions = {}): Promise<string | undefined> {
  const alias = findAlias(reference, options.aliases ?? MODEL_ALIASES);
  const match = REPO_REFERENCE.exec(reference);
  const source = alias ? { repo: alias.repo, file: alias.file } : match ? { repo: `${match[1]}/${match[2]}`, file: match[3] } : undefined;
  if (!source) return undefined;
  const repoDir = path.join(options.cacheDir ?? hubCacheDir(), `models--${source.repo.replace('/', '--')}`);
  const revision = options.revision ?? 'main';
  const commit = COMMIT.test(revision) ? revision : (await fs.readFile(path.join(repoDir, 'refs', revision), 'utf8').catch(() => '')).trim();
  if (!COMMIT.test(commit)) return undefined;
  const snapshot = path.join(repoDir, 'snapshots', commit);
  if (source.file !== undefined) {
    const file = path.join(snapshot, ...source.file.split('/'));
    return (await fs.stat(file).catch(() => undefined))?.isFile() ? file : undefined;
  }
  const files = await snapshotFiles(snapshot);
  try {
    return path.join(snapshot, pickCheckpoint(source.repo, files));
  } catch (err) {
    if (!(err instanceof DownloadError) || err.reason !== 'ambiguous') return undefined;
    const list = err.candidates!.map((f) => `  ${f}`).join('\n');
    throw new ModelFileError(reference, `${source.repo} in the Hugging Face cache (${snapshot}) holds ${err.candidates!.length} checkpoint files; name one as ${source.repo}:FILE:\n${list}`);
  }
}

/** A snapshot's files, as repository paths ('unet/model.safetensors'); links count as the files they point to. */
async function snapshotFiles(dir: string, prefix = ''): Promise<string[]> {
  const entries = await fs.readdir(path.join(dir, prefix), { withFileTypes: true }).catch(() => []);
  const files: string[] = [];
  for (const entry of entries) {
    const relative = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) files.push(...(await snapshotFiles(dir, relative)));
    else files.push(relative);
  }
  return files;
}
