import os from 'node:os';
import path from 'node:path';

/**
 * Where `diffusekit serve` and `diffusekit keys` keep the database and outputs unless `--data-dir` says
 * otherwise: $DIFFUSEKIT_DATA_DIR, else $XDG_DATA_HOME/diffusekit, else ~/.local/share/diffusekit.
 */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.DIFFUSEKIT_DATA_DIR) return path.resolve(env.DIFFUSEKIT_DATA_DIR);
  const base = env.XDG_DATA_HOME || path.join(os.homedir(), '.local', 'share');
  return path.join(base, 'diffusekit');
}
