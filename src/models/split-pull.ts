import path from 'node:path';
import { ModelFileError } from '../errors.js';
import { invalidParameter, isString } from '../util/is.js';
import { findSplitAlias, SPLIT_MODEL_ALIASES, type SplitModelAlias, type SplitModelPart } from './aliases.js';
import { readComponentSet } from './component-set.js';
import { pullModel, type PullOptions, type PullResult } from './hub.js';
import { libraryDir } from './library.js';
import { updateManifest } from './library-manifest.js';

export interface SplitPullOptions extends Omit<PullOptions, 'aliases'> {
  /** The split aliases `name` may be; default the built-in table (SPLIT_MODEL_ALIASES). */
  splitAliases?: readonly SplitModelAlias[];
}

export interface SplitPullResult {
  /** The library name that loads it: the alias, which is also its folder's name. */
  name: string;
  /** The component folder. */
  path: string;
  alias: string;
  /** Each file as pulled, with the component it is. */
  parts: (PullResult & { slot: SplitModelPart['slot'] })[];
  /** False when the library already held every file. */
  downloaded: boolean;
}

/**
 * Pulls every file of a split model (`z-image-turbo`, `qwen-image`, `flux1-schnell`, `sd3.5-medium`...) into one
 * folder of the library named after it, then checks that the folder reads back as that model: each file in the
 * slot the alias says. Files already there with the Hub's checksum are kept; an interrupted pull resumes.
 */
export async function pullSplitModel(name: string, options: SplitPullOptions = {}): Promise<SplitPullResult> {
  if (!isString(name) || name.length === 0) throw invalidParameter('name', 'a split model alias', name);
  const table = options.splitAliases ?? SPLIT_MODEL_ALIASES;
  const alias = findSplitAlias(name, table);
  if (!alias) throw invalidParameter('name', `a split model alias (${table.map((a) => a.name).join(', ')})`, name);
  const { splitAliases: _, ...pullOptions } = options;
  const dir = libraryDir(options.dir);
  const folder = path.join(dir, alias.name);
  const parts: SplitPullResult['parts'] = [];
  for (const part of alias.parts) {
    const pulled = await pullModel(`${part.repo}:${part.file}`, { ...pullOptions, dir: folder, aliases: [] });
    parts.push({ ...pulled, slot: part.slot });
  }
  const set = await readComponentSet(folder);
  for (const part of parts) {
    const slot = Object.entries(set.components).find(([, file]) => file === part.path)?.[0];
    const expected = part.slot === 'diffusionModel' ? ['diffusionModel', 'model'] : [part.slot];
    if (!slot || !expected.includes(slot)) {
      throw new ModelFileError(part.path, `${alias.name}: ${part.repo}:${part.file} should be the ${part.slot} but holds ${slot ? `the ${slot}` : 'no component the folder places'}`);
    }
  }
  updateManifest(dir, (manifest) => {
    manifest.aliases[alias.name] = alias.name;
  });
  return { name: alias.name, path: folder, alias: alias.name, parts, downloaded: parts.some((p) => p.downloaded) };
}
