#!/usr/bin/env node
// Installs the CUDA compiler toolchain that builds the CUDA backend module (scripts/prebuild.mjs --backend
// cuda) from NVIDIA's own PyPI wheels, pinned to CUDA 13.0 so that the module runs on driver 580 and newer,
// into ~/.cache/diffusekit/cuda/<version> (never committed; DIFFUSEKIT_CACHE_DIR moves it). Prints the root.
//   node scripts/cuda-toolchain.mjs           install when missing, then print the toolkit root
//   node scripts/cuda-toolchain.mjs --check   only print the root, or fail when it is not installed
// The wheels together hold what a CUDA toolkit install has for this build: nvcc with cudafe++, ptxas, nvlink,
// fatbinary and bin2c (nvidia-cuda-nvcc), cicc (nvidia-nvvm), the crt/ headers (nvidia-cuda-crt), the runtime
// headers with libcudart.so.13 and libcudart_static.a (nvidia-cuda-runtime), thrust/cub (nvidia-cuda-cccl) and
// cuBLAS (nvidia-cublas). They lack two things CMake expects of a toolkit, which are added here: the
// unversioned libcudart.so / libcublas.so / libcublasLt.so links, and lib64 (a link to lib). There is no
// libcuda.so stub, so the build sets GGML_CUDA_NO_VMM (the module does not link the driver library itself).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const CUDA_VERSION = '13.0';
// One CUDA 13.0 release (update 2); cuBLAS 13.1.0.3 is the cuBLAS of that release.
export const CUDA_WHEELS = {
  'nvidia-cuda-nvcc': '13.0.88',
  'nvidia-cuda-runtime': '13.0.96',
  'nvidia-cuda-crt': '13.0.88',
  'nvidia-nvvm': '13.0.88',
  'nvidia-cuda-cccl': '13.0.85',
  'nvidia-cublas': '13.1.0.3',
};

const cacheRoot = process.env.DIFFUSEKIT_CACHE_DIR || path.join(os.homedir(), '.cache', 'diffusekit');
const target = path.join(cacheRoot, 'cuda', CUDA_VERSION);
/** The toolkit root (bin/nvcc, include/, lib/) inside the pip target folder. */
export const cudaRoot = path.join(target, 'nvidia', 'cu13');
const stamp = path.join(target, 'wheels.json');
const log = (msg) => process.stderr.write(`diffusekit cuda: ${msg}\n`);

function installed() {
  try {
    return JSON.stringify(JSON.parse(fs.readFileSync(stamp, 'utf8'))) === JSON.stringify(CUDA_WHEELS) && fs.existsSync(path.join(cudaRoot, 'bin', 'nvcc'));
  } catch {
    return false;
  }
}

function link(dir, name, to) {
  const file = path.join(dir, name);
  if (!fs.existsSync(file)) fs.symlinkSync(to, file);
}

function install() {
  const partial = `${target}.partial`;
  fs.rmSync(partial, { recursive: true, force: true });
  const python = process.env.PYTHON || 'python3';
  const specs = Object.entries(CUDA_WHEELS).map(([name, version]) => `${name}==${version}`);
  log(`installing ${specs.join(' ')} into ${target}`);
  // --no-deps: the pins are the whole set (the wheels' own requirements name newer 13.x releases).
  execFileSync(python, ['-m', 'pip', 'install', '--quiet', '--no-deps', '--only-binary=:all:', '--target', partial, ...specs], { stdio: 'inherit' });
  const root = path.join(partial, 'nvidia', 'cu13');
  const lib = path.join(root, 'lib');
  for (const name of ['cudart', 'cublas', 'cublasLt']) link(lib, `lib${name}.so`, `lib${name}.so.13`);
  link(root, 'lib64', 'lib');
  for (const tool of ['nvcc', 'ptxas', 'nvlink', 'fatbinary', 'cudafe++', 'bin2c']) fs.chmodSync(path.join(root, 'bin', tool), 0o755);
  for (const cicc of [path.join(root, 'nvvm', 'bin', 'cicc')]) if (fs.existsSync(cicc)) fs.chmodSync(cicc, 0o755);
  fs.writeFileSync(path.join(partial, 'wheels.json'), `${JSON.stringify(CUDA_WHEELS, null, 2)}\n`);
  fs.rmSync(target, { recursive: true, force: true });
  fs.renameSync(partial, target);
}

function main() {
  if (!installed()) {
    if (process.argv.includes('--check')) {
      log(`no CUDA ${CUDA_VERSION} toolchain in ${target} (run \`node scripts/cuda-toolchain.mjs\`)`);
      process.exit(1);
    }
    install();
  }
  const version = execFileSync(path.join(cudaRoot, 'bin', 'nvcc'), ['--version'], { encoding: 'utf8' }).trim().split('\n').pop();
  log(version);
  process.stdout.write(`${cudaRoot}\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) main();
