import fs from 'node:fs/promises';
import path from 'node:path';
import { ModelFileError } from '../errors.js';
import { cacheDir } from '../util/cache.js';
import { invalidParameter, isString, optionalString } from '../util/is.js';
import { findAlias, MODEL_ALIASES, type LibraryRole, type ModelAlias } from './aliases.js';
import { findInHubCache } from './hf-cache.js';
import {
  contextFamily, detectFamily, dominantWeightType, inspectModelFile, loraFamily, modelRole, type ModelFamily, type ModelFileInfo, type ModelFormat,
} from './inspect.js';
import { readComponentSet } from './component-set.js';
import { forgetFile, readManifest, updateManifest, type PulledFile } from './library-manifest.js';

/** File extensions the library lists as models; diffusers folders are listed too. */
export const MODEL_EXTENSIONS = ['.safetensors', '.sft', '.gguf', '.ckpt', '.pt', '.pth'] as const;

/** Downloads in progress (or interrupted, to be resumed) live here, never beside the models. */
export const PARTIAL_DIR = '.partial';

export interface LibraryOptions {
  /** The library folder; default $DIFFUSEKIT_MODELS_DIR, else ~/.cache/diffusekit/models. */
  dir?: string;
}

/** The library folder: the `dir` given, else $DIFFUSEKIT_MODELS_DIR, else the cache's models folder. */
export function libraryDir(dir?: string): string {
  return path.resolve(optionalString('dir', dir) ?? (process.env.DIFFUSEKIT_MODELS_DIR || cacheDir('models')));
}

export interface LibraryModel {
  /** The file name without extension: what Pipeline.load, `generate -m` and `serve --model` accept. */
  name: string;
  /** The file name in the library. */
  fileName: string;
  path: string;
  /** Undefined when the file could not be inspected (see `problem`). */
  format?: ModelFormat;
  family: ModelFamily;
  role: LibraryRole;
  /** Bytes on disk. */
  size: number;
  /** The storage type of most of the weights (f16, bf16, q8_0...); undefined for pickled checkpoints. */
  weightType?: string;
  /** The alias it was pulled by, if any. */
  alias?: string;
  /** Where it was pulled from; undefined for files put there by hand (or synthesized). */
  source?: PulledFile;
  /** Why the file is not a loadable model (truncated, corrupt...); such files are listed, so they can be removed. */
  problem?: string;
}

interface LibraryEntry {
  fileName: string;
  name: string;
  path: string;
  /** A split model's folder (a pulled split alias): its files are components. */
  components?: true;
}

/** Model files and diffusers folders in the library, without opening them. */
async function libraryEntries(dir: string): Promise<LibraryEntry[]> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const entries: LibraryEntry[] = [];
  for (const fileName of names.sort()) {
    if (fileName.startsWith('.') || fileName.endsWith('.part') || fileName.endsWith('.tmp')) continue;
    const file = path.join(dir, fileName);
    const stat = await fs.stat(file).catch(() => undefined);
    if (!stat) continue;
    const extension = path.extname(fileName).toLowerCase();
    if (stat.isFile() && (MODEL_EXTENSIONS as readonly string[]).includes(extension)) {
      entries.push({ fileName, name: fileName.slice(0, -extension.length), path: file });
    } else if (stat.isDirectory() && (await isDiffusersFolder(file))) {
      entries.push({ fileName, name: fileName, path: file });
    } else if (stat.isDirectory() && (await holdsModelFiles(file))) {
      entries.push({ fileName, name: fileName, path: file, components: true });
    }
  }
  return entries;
}

/** A folder with model files in it (not a diffusers one): a split model's components. */
async function holdsModelFiles(dir: string): Promise<boolean> {
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  return names.some((n) => (MODEL_EXTENSIONS as readonly string[]).includes(path.extname(n).toLowerCase()));
}

async function isDiffusersFolder(dir: string): Promise<boolean> {
  const marker = await fs.stat(path.join(dir, 'unet')).catch(() => undefined);
  return marker?.isDirectory() ?? false;
}

/** TAESD's tiny autoencoder: only encoder.layers.* and decoder.layers.* tensors. */
const isTinyAutoencoder = (info: ModelFileInfo) =>
  (info.tensorNames?.length ?? 0) > 0 && info.tensorNames!.every((n) => /^(encoder|decoder)\.layers\./.test(n));

function describeFile(info: ModelFileInfo, recorded: PulledFile | undefined): Pick<LibraryModel, 'format' | 'family' | 'role' | 'weightType'> {
  const detected = modelRole(info);
  const role: LibraryRole = detected !== 'unknown' ? detected : isTinyAutoencoder(info) ? 'taesd' : (recorded?.role ?? 'unknown');
  const family = role === 'controlnet' ? contextFamily(info) : role === 'lora' ? loraFamily(info) : detectFamily(info);
  return { format: info.format, family: family !== 'unknown' ? family : (recorded?.family ?? 'unknown'), role, weightType: dominantWeightType(info) };
}

/**
 * The models in the library, by name: family, role, size and weight type from each file's header (nothing is
 * loaded), and the alias and source of pulled files. Interrupted downloads (.partial/) are never listed.
 */
export async function listModels(options: LibraryOptions = {}): Promise<LibraryModel[]> {
  const dir = libraryDir(options.dir);
  const manifest = readManifest(dir);
  const aliasOf = (fileName: string) => Object.entries(manifest.aliases).reverse().find(([, target]) => target === fileName)?.[0];
  const models: LibraryModel[] = [];
  for (const entry of await libraryEntries(dir)) {
    const source = manifest.files[entry.fileName];
    const alias = aliasOf(entry.fileName);
    const common = { name: entry.name, fileName: entry.fileName, path: entry.path, ...(alias && { alias }), ...(source && { source }) };
    try {
      if (entry.components) {
        const set = await readComponentSet(entry.path);
        const size = set.files.reduce((n, f) => n + f.size, 0);
        models.push({ ...common, format: set.denoiser.format, family: detectFamily(set.denoiser), role: 'checkpoint', weightType: dominantWeightType(set.denoiser), size });
        continue;
      }
      const info = await inspectModelFile(entry.path);
      models.push({ ...common, ...describeFile(info, source), size: info.size });
    } catch (err) {
      const size = (await fs.stat(entry.path)).size;
      models.push({ ...common, family: source?.family ?? 'unknown', role: source?.role ?? 'unknown', size, problem: (err as Error).message });
    }
  }
  return models;
}

/** The library entry a name means: the file name, the file name without extension, or a pulled alias. */
async function findInLibrary(dir: string, name: string): Promise<LibraryEntry | undefined> {
  const entries = await libraryEntries(dir);
  const exact = entries.find((e) => e.fileName === name);
  if (exact) return exact;
  const byName = entries.filter((e) => e.name === name);
  if (byName.length > 1) {
    throw new ModelFileError(name, `'${name}' names ${byName.length} files in the library (${byName.map((e) => e.fileName).join(', ')}): give the file name`);
  }
  if (byName.length === 1) return byName[0];
  const target = readManifest(dir).aliases[name];
  return target === undefined ? undefined : entries.find((e) => e.fileName === target);
}

/** True unless nothing is there; a path that cannot be examined (EACCES) counts, so opening it reports why. */
async function pathExists(file: string): Promise<boolean> {
  try {
    await fs.lstat(file);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code !== 'ENOENT' && code !== 'ENOTDIR';
  }
}

/** A name that can only be a path: it has a folder part, or starts with ~ or a dot. */
const looksLikePath = (value: string) => /[\\/]/.test(value) || value.startsWith('~') || value.startsWith('.');

export interface ResolveOptions extends LibraryOptions {
  /** What the file is, for messages: 'model', 'vae model', 'upscaler model'... Default 'model'. */
  label?: string;
  /** Aliases to suggest pulling; default the built-in table. */
  aliases?: readonly ModelAlias[];
}

/**
 * The file a model name means, in this order: an existing path (returned absolute); a model in the library
 * (file name with or without extension); an alias pulled into the library (sd-1.5, sdxl...); a repository
 * pulled as owner/repo or owner/repo:file; the same names in the Hugging Face cache (models that Python tools
 * downloaded: see hubCacheDir). Otherwise a ModelFileError that says how to get it.
 */
export async function resolveModel(nameOrPath: string, options: ResolveOptions = {}): Promise<string> {
  if (!isString(nameOrPath) || nameOrPath.length === 0) throw invalidParameter('model', 'path or library name', nameOrPath);
  const label = options.label ?? 'model';
  if (await pathExists(nameOrPath)) return path.resolve(nameOrPath);
  const dir = libraryDir(options.dir);
  const found = await findInLibrary(dir, nameOrPath);
  if (found) return found.path;
  const pulled = await findPulledRepository(dir, nameOrPath);
  if (pulled) return pulled;
  const cached = await findInHubCache(nameOrPath, { aliases: options.aliases });
  if (cached) return cached;
  if (looksLikePath(nameOrPath)) {
    const file = path.resolve(nameOrPath);
    throw new ModelFileError(file, `${label} file ${file}: not found`);
  }
  if (findAlias(nameOrPath, options.aliases ?? MODEL_ALIASES)) {
    throw new ModelFileError(nameOrPath, `${label} '${nameOrPath}' is not in the library (${dir}): pull it with 'diffusekit models pull ${nameOrPath}'`);
  }
  throw new ModelFileError(
    nameOrPath,
    `${label} '${nameOrPath}' is neither a file nor a model in the library (${dir}): see 'diffusekit models list', ` +
      `or pull one with 'diffusekit models pull sd-1.5' (an alias) or 'diffusekit models pull owner/repo:file.safetensors'`,
  );
}

/** A library file pulled from `owner/repo` (when it is the only one) or `owner/repo:file`. */
async function findPulledRepository(dir: string, reference: string): Promise<string | undefined> {
  const match = /^([\w.-]+\/[\w.-]+)(?::(.+))?$/.exec(reference);
  if (!match) return undefined;
  const [, repo, file] = match;
  const manifest = readManifest(dir);
  const names = Object.entries(manifest.files)
    .filter(([, source]) => source.repo === repo && (file === undefined || source.file === file))
    .map(([fileName]) => fileName);
  if (names.length !== 1) return undefined;
  const entry = (await libraryEntries(dir)).find((e) => e.fileName === names[0]);
  return entry?.path;
}

/** Deletes a model from the library (by name, file name or alias), with its record and any interrupted download of it. */
export async function removeModel(name: string, options: LibraryOptions = {}): Promise<{ name: string; path: string }> {
  if (!isString(name) || name.length === 0) throw invalidParameter('name', 'library name', name);
  const dir = libraryDir(options.dir);
  const entry = await findInLibrary(dir, name);
  if (!entry) throw new ModelFileError(name, `no model named '${name}' in the library (${dir}): see 'diffusekit models list'`);
  await fs.rm(entry.path, { recursive: true, force: true });
  await fs.rm(path.join(dir, PARTIAL_DIR, `${entry.fileName}.part`), { force: true });
  await fs.rm(path.join(dir, PARTIAL_DIR, `${entry.fileName}.part.json`), { force: true });
  const recorded = readManifest(dir);
  if (recorded.files[entry.fileName] || Object.values(recorded.aliases).includes(entry.fileName)) {
    updateManifest(dir, (manifest) => forgetFile(manifest, entry.fileName));
  }
  return { name: entry.name, path: entry.path };
}
