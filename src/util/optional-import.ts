import { DiffusekitError } from '../errors.js';

/**
 * Imports an optional dependency that one feature needs, so the core loads without it. When it is not
 * installed the error names the package and how to install it, instead of Node's bare ERR_MODULE_NOT_FOUND.
 */
export async function importOptional<T>(pkg: string, feature: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (err) {
    throw new DiffusekitError(
      'ERR_MODEL_LOAD',
      `${feature} needs the optional package ${pkg}, which could not be loaded (${(err as Error).message}); install it with: npm install ${pkg}`,
      { cause: err },
    );
  }
}
