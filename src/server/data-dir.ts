import path from 'node:path';
import { platformDirs } from '../util/platform-dirs.js';

/**
 * Where `diffusekit serve` and `diffusekit keys` keep the database and outputs unless `--data-dir` says
 * otherwise: $DIFFUSEKIT_DATA_DIR, else the OS's data folder: $XDG_DATA_HOME/diffusekit, else
 * ~/.local/share/diffusekit on Linux; ~/Library/Application Support/diffusekit on macOS; %LOCALAPPDATA%\diffusekit\Data
 * on Windows (see platformDirs).
 */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.DIFFUSEKIT_DATA_DIR) return path.resolve(env.DIFFUSEKIT_DATA_DIR);
  return platformDirs(env).data;
}
