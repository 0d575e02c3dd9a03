// The output cache of the GPU backend builds (scripts/prebuild-gpu.mjs). A GPU module depends only on what
// goes into it: the pinned engine and our patches (not those to the CPU backend alone), the CMake and build
// scripts, the compilers and their versions, the toolchain pins and the architectures. Compiling ggml-cuda for
// one architecture took 39 min on two cores here (34 min of CPU; hours for all of them), so a built module is
// kept under ~/.cache/diffusekit/gpu-builds/<backend>-<key>/ and reused while that key is unchanged: CI builds
// a fresh clone every time. Any change to an input makes a new key and a real build (ccache still holds the
// objects whose own inputs did not change). DIFFUSEKIT_GPU_BUILD_CACHE=0 always builds.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cacheRoot = path.join(process.env.DIFFUSEKIT_CACHE_DIR || path.join(os.homedir(), '.cache', 'diffusekit'), 'gpu-builds');
// Built modules kept per backend (a CUDA module for every architecture is a few hundred MiB).
const KEEP_PER_BACKEND = 2;
// The files whose content shapes the build, besides engine.json's pin and the patches that enter a GPU module.
const INPUT_FILES = ['CMakeLists.txt', 'scripts/build.mjs', 'scripts/gpu-build.mjs', 'scripts/engine-source.mjs'];

// A GPU module is one ggml backend (`--target ggml-cuda`): neither ggml's CPU backend nor the engine's own
// sources (src/: samplers, model graphs) are compiled into it. So a patch that only touches those (our CPU
// kernels, the sampler) does not make a new key: editing it must not cost CI a 40-minute CUDA build.
const GGML_DIR = 'ggml/';
const CPU_BACKEND_DIR = 'ggml/src/ggml-cpu/';
const entersGpuModules = (patch) => {
  const files = [...fs.readFileSync(path.join(root, patch), 'utf8').matchAll(/^\+\+\+ b\/(\S+)/gm)].map((m) => m[1]);
  return files.length === 0 || files.some((file) => file.startsWith(GGML_DIR) && !file.startsWith(CPU_BACKEND_DIR));
};

// CMakeLists.txt's list of our CPU kernels' sources goes into the CPU backend targets only, so it is left out too.
const CPU_KERNEL_SOURCES = /^foreach\(cpu_target IN LISTS DIFFUSEKIT_CPU_TARGETS\)\n[\s\S]*?^endforeach\(\)\n/m;
const inputText = (file) => {
  const text = fs.readFileSync(path.join(root, file));
  return file === 'CMakeLists.txt' ? Buffer.from(text.toString('utf8').replace(CPU_KERNEL_SOURCES, '')) : text;
};

export const gpuBuildCacheEnabled = () => process.env.DIFFUSEKIT_GPU_BUILD_CACHE !== '0';

const versionOf = (command) => {
  try {
    return execFileSync(command, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return `${command}: not found`;
  }
};

/**
 * The key of a build: a hash of every input file, the compilers' `--version` output (`compilers`: the
 * backend's own, e.g. nvcc or glslc) and `settings` (toolchain pins, architectures).
 */
export function gpuBuildKey(backend, { compilers = [], settings = {} }) {
  const hash = crypto.createHash('sha256');
  hash.update(JSON.stringify({ backend, platform: `${os.platform()}-${os.arch()}`, settings }));
  const engine = JSON.parse(fs.readFileSync(path.join(root, 'engine.json'), 'utf8'));
  const patches = (engine.patches ?? []).filter(entersGpuModules);
  // The pinned source, not the list of patches: adding a patch that stays out of the module keeps the key.
  hash.update(JSON.stringify({ ...engine, comment: undefined, patches }));
  for (const file of [...INPUT_FILES, ...patches]) {
    hash.update(`\0${file}\0`);
    hash.update(inputText(file));
  }
  for (const command of ['c++', 'cc', 'cmake', ...compilers]) hash.update(`\0${command}\0${versionOf(command)}`);
  return hash.digest('hex').slice(0, 20);
}

const entryDir = (backend, key) => path.join(cacheRoot, `${backend}-${key}`);

/** The cached module for `key`, with when and how long it took to build, or undefined. */
export function findCachedGpuBuild(backend, key, moduleName) {
  const dir = entryDir(backend, key);
  const file = path.join(dir, moduleName);
  try {
    const meta = JSON.parse(fs.readFileSync(path.join(dir, 'build.json'), 'utf8'));
    if (!fs.existsSync(file)) return undefined;
    fs.utimesSync(dir, new Date(), new Date()); // most recently used
    return { file, ...meta };
  } catch {
    return undefined;
  }
}

/** Keeps a freshly built (stripped) module under `key`, then drops this backend's least recently used entries. */
export function storeGpuBuild(backend, key, module, buildSeconds) {
  fs.mkdirSync(cacheRoot, { recursive: true });
  const dir = entryDir(backend, key);
  const partial = `${dir}.${process.pid}.partial`;
  fs.rmSync(partial, { recursive: true, force: true });
  fs.mkdirSync(partial);
  fs.copyFileSync(module, path.join(partial, path.basename(module)));
  fs.writeFileSync(path.join(partial, 'build.json'), `${JSON.stringify({ key, builtAt: new Date().toISOString(), buildSeconds: Math.round(buildSeconds) }, null, 2)}\n`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(partial, dir);
  const entries = fs.readdirSync(cacheRoot)
    .filter((name) => name.startsWith(`${backend}-`) && !name.endsWith('.partial'))
    .map((name) => ({ name, used: fs.statSync(path.join(cacheRoot, name)).mtimeMs }))
    .sort((a, b) => b.used - a.used);
  for (const old of entries.slice(KEEP_PER_BACKEND)) fs.rmSync(path.join(cacheRoot, old.name), { recursive: true, force: true });
}
