// The benchmark's baseline: stable-diffusion.cpp's own sd-cli, built from the pinned release without our
// patches and with the engine's default build options (CPU backend, GGML_NATIVE), in build/baseline.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveBaselineEngineSource } from '../scripts/engine-source.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Path of the baseline sd-cli, built on first use (minutes; ccache makes later builds quick). */
export async function baselineCli({ quiet = false } = {}) {
  const buildDir = path.join(root, 'build', 'baseline');
  const cli = path.join(buildDir, 'bin', 'sd-cli');
  if (fs.existsSync(cli)) return cli;
  const source = await resolveBaselineEngineSource();
  const stdio = ['ignore', quiet ? 'ignore' : 'inherit', 'inherit'];
  const launcher = (() => {
    try {
      execFileSync('ccache', ['--version'], { stdio: 'ignore' });
      return ['-DCMAKE_C_COMPILER_LAUNCHER=ccache', '-DCMAKE_CXX_COMPILER_LAUNCHER=ccache'];
    } catch {
      return [];
    }
  })();
  const env = { ...process.env, CCACHE_BASEDIR: root, CCACHE_NOHASHDIR: '1' };
  execFileSync('cmake', ['-S', source, '-B', buildDir, '-DCMAKE_BUILD_TYPE=Release', '-DSD_BUILD_EXAMPLES=ON', ...launcher], { stdio, env });
  execFileSync('cmake', ['--build', buildDir, '--target', 'sd-cli', '--parallel', String(os.availableParallelism())], { stdio, env });
  return cli;
}
