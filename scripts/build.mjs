#!/usr/bin/env node
// Builds the native addon: resolves the pinned engine source, then compiles engine + addon with cmake-js.
//   node scripts/build.mjs              build (incremental; the engine is recompiled only when its source changes)
//   node scripts/build.mjs --if-needed  skip when a prebuild or an earlier build already loads (npm install),
//                                       unless `npm install --build-from-source` or DIFFUSEKIT_BUILD_FROM_SOURCE=1
//   node scripts/build.mjs --target sd-cli   build another target of the same tree (the engine's own CLI)
// Backend: DIFFUSEKIT_BACKEND=cpu|cuda|vulkan|metal, or `npm install --diffusekit-backend=cuda`.
// DIFFUSEKIT_PORTABLE=1 builds for shipping (scripts/prebuild.mjs): ggml as shared libraries with every CPU
// variant as a module chosen at run time, into build/portable/Release; otherwise the build is tuned for this
// machine, into build/Release. A portable GPU build (DIFFUSEKIT_PORTABLE=1 DIFFUSEKIT_BACKEND=cuda, what
// `npm run build:cuda` runs) goes to build/portable-cuda and builds only the GPU backend module (docs/gpu.md).
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveEngineSource } from './engine-source.mjs';
import { gpuCmakeArgs } from './gpu-build.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const args = process.argv.slice(2);
const backend = (process.env.DIFFUSEKIT_BACKEND || process.env.npm_config_diffusekit_backend || 'cpu').toLowerCase();
const BACKENDS = ['cpu', 'cuda', 'vulkan', 'metal'];

const portable = Boolean(process.env.DIFFUSEKIT_PORTABLE);
const truthy = (v) => Boolean(v) && v !== 'false' && v !== '0';
const fromSource = truthy(process.env.DIFFUSEKIT_BUILD_FROM_SOURCE) || truthy(process.env.npm_config_build_from_source);

function alreadyLoadable() {
  if (process.env.DIFFUSEKIT_FORCE_BUILD || fromSource || backend !== 'cpu') return false;
  try {
    require('node-gyp-build')(root);
    return true;
  } catch {
    return false;
  }
}

async function main() {
  if (!BACKENDS.includes(backend)) {
    throw new Error(`DIFFUSEKIT_BACKEND must be one of ${BACKENDS.join(', ')}; got '${backend}'`);
  }
  if (args.includes('--if-needed') && alreadyLoadable()) {
    console.error('diffusekit: using the prebuilt (or earlier built) native addon; `npm install --build-from-source` compiles it');
    return;
  }
  const engineDir = await resolveEngineSource();
  const targetIndex = args.indexOf('--target');
  const target = targetIndex >= 0 ? args[targetIndex + 1] : undefined;
  const cmakeJs = path.join(path.dirname(require.resolve('cmake-js/package.json')), 'bin', 'cmake-js');
  const cmakeArgs = [
    cmakeJs, 'build', '--directory', root, '--parallel', String(os.availableParallelism()),
    ...(portable ? ['--out', path.join(root, 'build', backend === 'cpu' ? 'portable' : `portable-${backend}`)] : []),
    `--CDDIFFUSEKIT_ENGINE_DIR=${engineDir}`, `--CDDIFFUSEKIT_BACKEND=${backend}`,
    `--CDDIFFUSEKIT_PORTABLE=${portable ? 'ON' : 'OFF'}`,
    ...(target ? ['--target', target] : []),
    ...gpuCmakeArgs(backend, portable),
  ];
  // Paths relative to the checkout let ccache reuse objects across clones (CI builds a fresh clone).
  const env = { CCACHE_BASEDIR: root, CCACHE_NOHASHDIR: '1', ...process.env };
  execFileSync(process.execPath, cmakeArgs, { stdio: 'inherit', cwd: root, env });
}

main().catch((err) => {
  console.error(`diffusekit: native build failed: ${err.message}`);
  process.exit(1);
});
