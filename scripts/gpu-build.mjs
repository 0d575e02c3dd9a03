// What a GPU build adds to the CMake command line (scripts/build.mjs), kept apart from the CPU build.
// CUDA: the compiler is the pinned registry toolchain (scripts/cuda-toolchain.mjs, installed on first use)
// unless DIFFUSEKIT_CUDA_ROOT names another toolkit; the architectures are CUDA_ARCHITECTURES unless
// DIFFUSEKIT_CUDA_ARCHITECTURES says otherwise (a CMake list: "90-real" builds for the H100/H200 only).
// Vulkan: Debian 13's headers from a cache folder, Debian 12's glslc and loader (scripts/vulkan-toolchain.mjs).
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { VULKAN_SYSTEM } from './vulkan-toolchain.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

// Real machine code for every generation from Turing to Blackwell, plus PTX of compute_100 that the driver
// compiles on first use for anything newer (docs/gpu.md, "Architectures").
//   75 Turing (T4, RTX 20)   80 Ampere (A100)   86 Ampere (RTX 30, A10)   89 Ada (L4, L40, RTX 40)
//   90 Hopper (H100, H200)   100 Blackwell (B200)   120a Blackwell (RTX 50, RTX PRO 6000)
export const CUDA_ARCHITECTURES = '75-real;80-real;86-real;89-real;90-real;100-real;120a-real;100-virtual';

/** The CUDA toolkit root to build with: DIFFUSEKIT_CUDA_ROOT, else the pinned registry toolchain. */
export function cudaToolkitRoot() {
  if (process.env.DIFFUSEKIT_CUDA_ROOT) return process.env.DIFFUSEKIT_CUDA_ROOT;
  return execFileSync(process.execPath, [path.join(here, 'cuda-toolchain.mjs')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
}

/** The Vulkan header folder to build with: DIFFUSEKIT_VULKAN_INCLUDE, else the pinned Debian 13 headers. */
export function vulkanIncludeDir() {
  if (process.env.DIFFUSEKIT_VULKAN_INCLUDE) return process.env.DIFFUSEKIT_VULKAN_INCLUDE;
  return execFileSync(process.execPath, [path.join(here, 'vulkan-toolchain.mjs')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
}

/** cmake-js arguments for `backend` (none for the CPU). */
export function gpuCmakeArgs(backend, portable) {
  if (backend === 'vulkan') {
    const include = vulkanIncludeDir();
    return [
      `--CDVulkan_INCLUDE_DIR=${include}`,
      `--CDVulkan_LIBRARY=${VULKAN_SYSTEM.loader.file}`,
      `--CDVulkan_GLSLC_EXECUTABLE=${VULKAN_SYSTEM.glslc.file}`,
    ];
  }
  if (backend !== 'cuda') return [];
  const cuda = cudaToolkitRoot();
  return [
    `--CDCMAKE_CUDA_COMPILER=${path.join(cuda, 'bin', 'nvcc')}`,
    `--CDCUDAToolkit_ROOT=${cuda}`,
    `--CDCMAKE_CUDA_ARCHITECTURES=${process.env.DIFFUSEKIT_CUDA_ARCHITECTURES || (portable ? CUDA_ARCHITECTURES : 'native')}`,
  ];
}
