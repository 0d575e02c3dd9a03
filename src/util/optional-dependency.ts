import { MissingDependencyError } from '../errors.js';

/** A feature whose packages are optional peers of the core: what it is called and how to get them. */
export interface OptionalFeature {
  /** In the error message: 'diffusekit serve', 'the Redis queue (--queue redis)'. */
  feature: string;
  /** The packages it imports; a missing one among these becomes a MissingDependencyError. */
  packages: readonly string[];
  /** What to run, e.g. 'npm install diffusekit-server'. */
  install: string;
}

/** The packages of the server and its stores, which `npm install diffusekit-server` brings. */
export const SERVER_PACKAGES = [
  'fastify', '@fastify/ajv-compiler', '@fastify/formbody', '@fastify/multipart', '@fastify/static', '@fastify/swagger', '@fastify/swagger-ui',
  'better-sqlite3', 'ipaddr.js', 'bullmq', 'ioredis', '@aws-sdk/client-s3',
] as const;

export const SERVER_FEATURE = (feature: string): OptionalFeature => ({
  feature,
  packages: SERVER_PACKAGES,
  install: 'npm install diffusekit-server (the server package; it brings Fastify, SQLite, BullMQ and the S3 client)',
});

/**
 * Imports a module of an optional feature. When the import fails because one of the feature's packages is not
 * installed, throws MissingDependencyError naming it; any other failure is rethrown as it came.
 */
export async function importOptional<T>(load: () => Promise<T>, need: OptionalFeature): Promise<T> {
  try {
    return await load();
  } catch (error) {
    throw missingDependency(error, need) ?? error;
  }
}

/** The MissingDependencyError for a module-not-found failure of one of the feature's packages, else undefined. */
export function missingDependency(error: unknown, need: OptionalFeature): MissingDependencyError | undefined {
  const code = (error as { code?: unknown })?.code;
  if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') return undefined;
  const message = String((error as Error).message);
  // Node names the package it could not find: "Cannot find package 'fastify' imported from ...".
  const missing = need.packages.find((name) => message.includes(`'${name}'`) || message.includes(`"${name}"`));
  return missing === undefined ? undefined : new MissingDependencyError(missing, need.feature, need.install, { cause: error });
}
