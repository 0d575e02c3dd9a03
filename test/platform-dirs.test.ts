import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { userConfigPath } from '../src/cli/config.js';
import { defaultDataDir } from '../src/server/data-dir.js';
import { platformDirs } from '../src/util/platform-dirs.js';
import { tempDir } from './helpers/models.js';

describe('platform directories', () => {
  it('follow XDG on Linux', () => {
    const home = tempDir();
    expect(platformDirs({ HOME: home }, 'linux')).toEqual({
      data: path.join(home, '.local', 'share', 'diffusekit'), config: path.join(home, '.config', 'diffusekit'), cache: path.join(home, '.cache', 'diffusekit'),
    });
    expect(platformDirs({ HOME: home, XDG_DATA_HOME: '/d', XDG_CONFIG_HOME: '/c', XDG_CACHE_HOME: '/k' }, 'linux')).toEqual({
      data: path.join('/d', 'diffusekit'), config: path.join('/c', 'diffusekit'), cache: path.join('/k', 'diffusekit'),
    });
  });

  it('follow the Library on macOS and AppData on Windows', () => {
    const home = tempDir();
    expect(platformDirs({ HOME: home }, 'darwin')).toEqual({
      data: path.join(home, 'Library', 'Application Support', 'diffusekit'),
      config: path.join(home, 'Library', 'Preferences', 'diffusekit'),
      cache: path.join(home, 'Library', 'Caches', 'diffusekit'),
    });
    expect(platformDirs({ HOME: home, LOCALAPPDATA: path.join(home, 'L'), APPDATA: path.join(home, 'R') }, 'win32')).toEqual({
      data: path.join(home, 'L', 'diffusekit', 'Data'), config: path.join(home, 'R', 'diffusekit', 'Config'), cache: path.join(home, 'L', 'diffusekit', 'Cache'),
    });
    // A set XDG variable wins everywhere.
    expect(platformDirs({ HOME: home, XDG_CACHE_HOME: '/k' }, 'darwin').cache).toBe(path.join('/k', 'diffusekit'));
  });

  it('keep the folders an earlier version made on macOS until the conventional ones exist', () => {
    const home = tempDir();
    fs.mkdirSync(path.join(home, '.cache', 'diffusekit'), { recursive: true });
    expect(platformDirs({ HOME: home }, 'darwin').cache).toBe(path.join(home, '.cache', 'diffusekit'));
    expect(platformDirs({ HOME: home }, 'darwin').data).toBe(path.join(home, 'Library', 'Application Support', 'diffusekit'));
    fs.mkdirSync(path.join(home, 'Library', 'Caches', 'diffusekit'), { recursive: true });
    expect(platformDirs({ HOME: home }, 'darwin').cache).toBe(path.join(home, 'Library', 'Caches', 'diffusekit'));
  });

  it('are where the data directory and the user config file go', () => {
    const home = tempDir();
    const dirs = platformDirs({ HOME: home });
    expect(defaultDataDir({ HOME: home })).toBe(dirs.data);
    expect(userConfigPath({ HOME: home })).toBe(path.join(dirs.config, 'config.json'));
    expect(defaultDataDir({ HOME: home, DIFFUSEKIT_DATA_DIR: '/srv/dk' })).toBe(path.resolve('/srv/dk'));
  });
});
