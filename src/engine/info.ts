import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { nativeBinding, type NativeEngineInfo } from './binding.js';

export interface EngineInfo extends Omit<NativeEngineInfo, 'version' | 'commit'> {
  /** The pinned engine source this addon was built from (engine.json). */
  source: { name: string; release: string; sha256: string };
}

/** What the loaded addon was built from and for: backend, CPU features, samplers, schedulers. */
export function engineInfo(): EngineInfo {
  const { version: _v, commit: _c, ...native } = nativeBinding().engineInfo();
  const pin = JSON.parse(fs.readFileSync(fileURLToPath(new URL('../../engine.json', import.meta.url)), 'utf8'));
  return { ...native, source: { name: pin.name, release: `${pin.pypi.package} ${pin.pypi.version} (PyPI sdist)`, sha256: pin.pypi.sha256 } };
}
