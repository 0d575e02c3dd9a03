// The benchmark's baseline: stable-diffusion.cpp's own sd-cli, built from the pinned release without our
// patches and with the engine's default build options (CPU backend, GGML_NATIVE), in build/baseline; or,
// for comparing prebuilt CPU variants, built the portable way our prebuilds are (ggml as shared libraries,
// every CPU variant as a module, GGML_NATIVE off), in build/baseline-portable.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveBaselineEngineSource } from '../scripts/engine-source.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const PORTABLE = ['-DGGML_NATIVE=OFF', '-DGGML_BACKEND_DL=ON', '-DGGML_CPU_ALL_VARIANTS=ON', '-DBUILD_SHARED_LIBS=ON', '-DSD_BUILD_SHARED_GGML_LIB=ON'];

/**
 * In a portable build the engine's sd-cli does not link as released: two engine files call CPU-backend
 * functions by name, which live in the variant modules. The same glue our addon links
 * (native/engine/diffusekit_backend_dl.cpp: those functions through ggml's registry) makes it link; it changes
 * no computation. A CMake file run after the engine's project() adds it once the engine library exists.
 */
function backendGlue(buildDir) {
  const file = path.join(buildDir, 'diffusekit-backend-glue.cmake');
  const glue = path.join(root, 'native', 'engine', 'diffusekit_backend_dl.cpp').replace(/\\/g, '/');
  fs.mkdirSync(buildDir, { recursive: true });
  fs.writeFileSync(file, `cmake_language(DEFER DIRECTORY \${CMAKE_SOURCE_DIR} CALL target_sources stable-diffusion PRIVATE "${glue}")\n`);
  return file;
}

/** Path of the baseline sd-cli, built on first use (minutes; ccache makes later builds quick). */
export async function baselineCli({ quiet = false, portable = false } = {}) {
  const buildDir = path.join(root, 'build', portable ? 'baseline-portable' : 'baseline');
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
  const options = ['-DCMAKE_BUILD_TYPE=Release', '-DSD_BUILD_EXAMPLES=ON', ...launcher, ...(portable ? [...PORTABLE, `-DCMAKE_PROJECT_stable-diffusion_INCLUDE=${backendGlue(buildDir)}`] : [])];
  execFileSync('cmake', ['-S', source, '-B', buildDir, ...options], { stdio, env });
  // the CPU variant modules are not dependencies of sd-cli: build them along with it
  const targets = portable ? ['sd-cli', 'ggml'] : ['sd-cli'];
  execFileSync('cmake', ['--build', buildDir, '--target', ...targets, '--parallel', String(os.availableParallelism())], { stdio, env });
  return cli;
}

/**
 * The portable sd-cli restricted to one CPU variant: the engine loads the best module next to its program, so
 * a folder holding the program and only that variant's module makes it run that one (as DIFFUSEKIT_CPU_VARIANT
 * does for diffusekit).
 */
export async function baselineCliForVariant(variant, options = {}) {
  const cli = await baselineCli({ ...options, portable: true });
  if (variant === 'best') return cli;
  const bin = path.dirname(cli);
  const module = fs.readdirSync(bin).find((f) => f.startsWith(`libggml-cpu-${variant}.`));
  if (!module) throw new Error(`no CPU variant '${variant}' in ${bin}`);
  const dir = path.join(path.dirname(bin), `variant-${variant}`);
  fs.mkdirSync(dir, { recursive: true });
  for (const f of ['sd-cli', module]) fs.copyFileSync(path.join(bin, f), path.join(dir, f));
  fs.chmodSync(path.join(dir, 'sd-cli'), 0o755);
  return path.join(dir, 'sd-cli');
}
