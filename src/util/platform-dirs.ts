import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface PlatformDirs {
  /** Databases, outputs: what the user would miss. */
  data: string;
  /** config.json. */
  config: string;
  /** Downloads and synthesized models: what can be fetched again. */
  cache: string;
}

const NAME = 'diffusekit';

/**
 * diffusekit's folders by the convention of the OS (as env-paths chooses them, without its -nodejs suffix):
 * Linux and other Unix: $XDG_DATA_HOME, $XDG_CONFIG_HOME, $XDG_CACHE_HOME (~/.local/share, ~/.config, ~/.cache);
 * macOS: ~/Library/Application Support, ~/Library/Preferences, ~/Library/Caches; Windows: %LOCALAPPDATA%\diffusekit\
 * Data, %APPDATA%\diffusekit\Config, %LOCALAPPDATA%\diffusekit\Cache. An XDG variable that is set wins on every OS.
 * On macOS and Windows a folder an earlier version made in the XDG place (~/.cache/diffusekit...) is kept while
 * the conventional one does not exist, so an upgrade finds its models, keys and config where they were.
 */
export function platformDirs(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): PlatformDirs {
  const home = env.HOME || env.USERPROFILE || os.homedir();
  const xdg = {
    data: path.join(env.XDG_DATA_HOME || path.join(home, '.local', 'share'), NAME),
    config: path.join(env.XDG_CONFIG_HOME || path.join(home, '.config'), NAME),
    cache: path.join(env.XDG_CACHE_HOME || path.join(home, '.cache'), NAME),
  };
  const native = nativeDirs(platform, home, env);
  if (!native) return xdg;
  const pick = (kind: keyof PlatformDirs, variable: string): string => {
    if (env[variable]) return xdg[kind];
    return !fs.existsSync(native[kind]) && fs.existsSync(xdg[kind]) ? xdg[kind] : native[kind];
  };
  return { data: pick('data', 'XDG_DATA_HOME'), config: pick('config', 'XDG_CONFIG_HOME'), cache: pick('cache', 'XDG_CACHE_HOME') };
}

function nativeDirs(platform: NodeJS.Platform, home: string, env: NodeJS.ProcessEnv): PlatformDirs | undefined {
  if (platform === 'darwin') {
    const library = path.join(home, 'Library');
    return { data: path.join(library, 'Application Support', NAME), config: path.join(library, 'Preferences', NAME), cache: path.join(library, 'Caches', NAME) };
  }
  if (platform === 'win32') {
    const local = env.LOCALAPPDATA || path.join(home, 'AppData', 'Local');
    const roaming = env.APPDATA || path.join(home, 'AppData', 'Roaming');
    return { data: path.join(local, NAME, 'Data'), config: path.join(roaming, NAME, 'Config'), cache: path.join(local, NAME, 'Cache') };
  }
  return undefined;
}
