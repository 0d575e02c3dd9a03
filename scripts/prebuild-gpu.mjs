// The GPU half of the release step (`npm run build:cuda` = `node scripts/prebuild.mjs --backend cuda`):
// builds ggml's CUDA backend as a loadable module (libggml-cuda.so) from the pinned engine source with the
// pinned registry CUDA toolchain (scripts/cuda-toolchain.mjs), in the portable configuration of the CPU
// prebuild, so that it loads next to its CPU variants; then lays it out as the optional npm package
// packages/cuda-<platform>-<arch>/ (@diffusekit/cuda-linux-x64), which the loader finds at run time
// (src/engine/devices.ts). cuBLAS (595 MiB) does not travel in it: see docs/gpu.md, "What the package holds".
//   DIFFUSEKIT_CUDA_ARCHITECTURES=90-real npm run build:cuda    one architecture (the H100/H200), for a test
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CUDA_ARCHITECTURES, cudaToolkitRoot } from './gpu-build.mjs';
import { CUDA_VERSION, CUDA_WHEELS } from './cuda-toolchain.mjs';
import { VULKAN_HEADERS, VULKAN_SYSTEM } from './vulkan-toolchain.mjs';
import { findCachedGpuBuild, gpuBuildCacheEnabled, gpuBuildKey, storeGpuBuild } from './gpu-build-cache.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// What the GPU packages may weigh, uncompressed (docs/gpu.md): CUDA, every architecture's machine code;
// Vulkan, one module with its SPIR-V shaders built in.
export const CUDA_SIZE_BUDGET_MB = 400;
export const VULKAN_SIZE_BUDGET_MB = 96;

/** Where the portable build of a GPU backend leaves its libraries (cmake-js's Release folder or CMake's bin). */
export function gpuBuildOutputs(backend) {
  const base = path.join(root, 'build', `portable-${backend}`);
  return [path.join(base, 'Release'), path.join(base, 'bin')];
}

/** What each GPU package holds besides its module, what it needs from the system, and its size budget (MiB). */
const GPU_PACKAGES = {
  cuda: {
    // The CUDA runtime (0.7 MiB) travels with the module, found through its $ORIGIN run path.
    extras: () => [path.join(cudaToolkitRoot(), 'lib', 'libcudart.so.13')],
    compilers: () => [path.join(cudaToolkitRoot(), 'bin', 'nvcc')],
    needs: ['libcublas.so.13', 'libcublasLt.so.13'],
    budgetMb: CUDA_SIZE_BUDGET_MB,
    describe: () => ({ cuda: CUDA_VERSION, toolchain: CUDA_WHEELS, minimumDriver: 580, architectures: process.env.DIFFUSEKIT_CUDA_ARCHITECTURES || CUDA_ARCHITECTURES }),
    title: `CUDA ${CUDA_VERSION}`,
  },
  vulkan: {
    extras: () => [],
    compilers: () => [VULKAN_SYSTEM.glslc.file],
    needs: ['libvulkan.so.1'],
    budgetMb: VULKAN_SIZE_BUDGET_MB,
    describe: () => ({ vulkanHeaders: VULKAN_HEADERS.version, shaders: 'SPIR-V, compiled at build time by glslc' }),
    title: 'Vulkan',
  },
};

/** The build cache key of a GPU backend's module (scripts/gpu-build-cache.mjs). */
export function gpuPackageKey(backend) {
  const spec = GPU_PACKAGES[backend];
  return gpuBuildKey(backend, { compilers: spec.compilers(), settings: spec.describe() });
}

export function layOutGpu(backend) {
  const spec = GPU_PACKAGES[backend];
  if (!spec) throw new Error(`--backend ${backend}: expected ${Object.keys(GPU_PACKAGES).join(' or ')}`);
  const tuple = `${os.platform()}-${os.arch()}`;
  const moduleName = `libggml-${backend}.so`;
  const out = path.join(root, 'packages', `${backend}-${tuple}`);
  const key = gpuPackageKey(backend);
  const cached = gpuBuildCacheEnabled() ? findCachedGpuBuild(backend, key, moduleName) : undefined;
  fs.rmSync(out, { recursive: true, force: true });
  fs.mkdirSync(out, { recursive: true });
  if (cached) {
    console.error(`diffusekit: ${moduleName} restored from the build cache (key ${key}, built ${cached.builtAt} in ${cached.buildSeconds} s; DIFFUSEKIT_GPU_BUILD_CACHE=0 rebuilds)`);
    fs.copyFileSync(cached.file, path.join(out, moduleName));
  } else {
    const started = performance.now();
    execFileSync(process.execPath, [path.join(root, 'scripts', 'build.mjs'), '--target', `ggml-${backend}`], {
      stdio: 'inherit', cwd: root, env: { ...process.env, DIFFUSEKIT_PORTABLE: '1', DIFFUSEKIT_BACKEND: backend },
    });
    const module = gpuBuildOutputs(backend).map((d) => path.join(d, moduleName)).find((f) => fs.existsSync(f));
    if (!module) throw new Error(`the build left no ${moduleName} in build/portable-${backend}`);
    fs.copyFileSync(module, path.join(out, moduleName));
    execFileSync('strip', ['--strip-unneeded', path.join(out, moduleName)]);
    storeGpuBuild(backend, key, path.join(out, moduleName), (performance.now() - started) / 1000);
  }
  for (const extra of spec.extras()) fs.copyFileSync(extra, path.join(out, path.basename(extra)));
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  const files = fs.readdirSync(out).sort();
  const sizes = Object.fromEntries(files.map((f) => [f, fs.statSync(path.join(out, f)).size]));
  const total = Object.values(sizes).reduce((a, b) => a + b, 0);
  fs.writeFileSync(path.join(out, 'package.json'), `${JSON.stringify({
    name: `@diffusekit/${backend}-${tuple}`,
    version: pkg.version,
    description: `diffusekit's ${spec.title} backend for ${tuple} (${moduleName}), loaded by diffusekit's prebuilt addon when installed`,
    license: pkg.license,
    os: [os.platform()],
    cpu: [os.arch()],
    files: [...files, 'backend.json'],
  }, null, 2)}\n`);
  const digest = (f) => crypto.createHash('sha256').update(fs.readFileSync(path.join(out, f))).digest('hex');
  fs.writeFileSync(path.join(out, 'backend.json'), `${JSON.stringify({
    backend, ...spec.describe(), buildKey: key,
    needs: spec.needs,
    files: Object.fromEntries(files.map((f) => [f, { bytes: sizes[f], sha256: digest(f) }])),
  }, null, 2)}\n`);
  console.error(`diffusekit: packages/${backend}-${tuple}: ${files.length} files, ${(total / 2 ** 20).toFixed(1)} MiB`);
  if (total > spec.budgetMb * 2 ** 20) {
    console.error(`diffusekit: the ${spec.title} package exceeds its ${spec.budgetMb} MiB budget`);
    process.exit(1);
  }
}
