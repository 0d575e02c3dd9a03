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

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// What the CUDA package may weigh, uncompressed: every architecture's machine code (docs/gpu.md).
export const CUDA_SIZE_BUDGET_MB = 400;

/** Where the portable CUDA build leaves its libraries (cmake-js's Release folder or CMake's bin). */
export function cudaBuildOutputs() {
  const base = path.join(root, 'build', 'portable-cuda');
  return [path.join(base, 'Release'), path.join(base, 'bin')];
}

export function layOutGpu(backend) {
  if (backend !== 'cuda') throw new Error(`--backend ${backend}: only cuda is built here (Vulkan: docs/gpu.md)`);
  const tuple = `${os.platform()}-${os.arch()}`;
  execFileSync(process.execPath, [path.join(root, 'scripts', 'build.mjs'), '--target', 'ggml-cuda'], {
    stdio: 'inherit', cwd: root, env: { ...process.env, DIFFUSEKIT_PORTABLE: '1', DIFFUSEKIT_BACKEND: 'cuda' },
  });
  const module = cudaBuildOutputs().map((d) => path.join(d, 'libggml-cuda.so')).find((f) => fs.existsSync(f));
  if (!module) throw new Error('the build left no libggml-cuda.so in build/portable-cuda');
  const out = path.join(root, 'packages', `cuda-${tuple}`);
  fs.rmSync(out, { recursive: true, force: true });
  fs.mkdirSync(out, { recursive: true });
  fs.copyFileSync(module, path.join(out, 'libggml-cuda.so'));
  execFileSync('strip', ['--strip-unneeded', path.join(out, 'libggml-cuda.so')]);
  // The CUDA runtime (0.7 MiB) travels with the module, found through its $ORIGIN run path.
  fs.copyFileSync(path.join(cudaToolkitRoot(), 'lib', 'libcudart.so.13'), path.join(out, 'libcudart.so.13'));
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  const files = fs.readdirSync(out).sort();
  const sizes = Object.fromEntries(files.map((f) => [f, fs.statSync(path.join(out, f)).size]));
  const total = Object.values(sizes).reduce((a, b) => a + b, 0);
  fs.writeFileSync(path.join(out, 'package.json'), `${JSON.stringify({
    name: `@diffusekit/cuda-${tuple}`,
    version: pkg.version,
    description: `diffusekit's CUDA ${CUDA_VERSION} backend for ${tuple} (libggml-cuda.so), loaded by diffusekit's prebuilt addon when installed`,
    license: pkg.license,
    os: [os.platform()],
    cpu: [os.arch()],
    files: [...files, 'backend.json'],
  }, null, 2)}\n`);
  const digest = (f) => crypto.createHash('sha256').update(fs.readFileSync(path.join(out, f))).digest('hex');
  fs.writeFileSync(path.join(out, 'backend.json'), `${JSON.stringify({
    backend: 'cuda', cuda: CUDA_VERSION, toolchain: CUDA_WHEELS, minimumDriver: 580,
    architectures: process.env.DIFFUSEKIT_CUDA_ARCHITECTURES || CUDA_ARCHITECTURES,
    needs: ['libcublas.so.13', 'libcublasLt.so.13'],
    files: Object.fromEntries(files.map((f) => [f, { bytes: sizes[f], sha256: digest(f) }])),
  }, null, 2)}\n`);
  console.error(`diffusekit: packages/cuda-${tuple}: ${files.length} files, ${(total / 2 ** 20).toFixed(1)} MiB`);
  if (total > CUDA_SIZE_BUDGET_MB * 2 ** 20) {
    console.error(`diffusekit: the CUDA package exceeds its ${CUDA_SIZE_BUDGET_MB} MiB budget`);
    process.exit(1);
  }
}
