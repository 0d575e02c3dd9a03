#!/usr/bin/env node
// Release step (`npm run prebuild`, before `npm pack` / `npm publish`): builds the portable addon from the
// pinned engine source (scripts/build.mjs with DIFFUSEKIT_PORTABLE=1: ggml as shared libraries, every CPU
// variant as a module chosen at run time) and lays it out as prebuilds/<platform>-<arch>/, where
// node-gyp-build finds it. The binaries travel in the npm tarball, never in git.
//   node scripts/prebuild.mjs           build and lay out
//   node scripts/prebuild.mjs --check   only verify that a complete prebuild for this platform is there
//   node scripts/prebuild.mjs --backend cuda   the optional CUDA backend package instead (scripts/prebuild-gpu.mjs)
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const tuple = `${os.platform()}-${os.arch()}`;
const out = path.join(root, 'prebuilds', tuple);
// cmake-js writes the addon to Release/, the engine writes ggml's libraries and modules to bin/
const built = [path.join(root, 'build', 'portable', 'Release'), path.join(root, 'build', 'portable', 'bin')];
// What one platform's prebuild may weigh, uncompressed (README, "Prebuilt binaries").
const SIZE_BUDGET_MB = 64;
const isLinux = os.platform() === 'linux';
const libc = isLinux && !fs.existsSync('/etc/alpine-release') ? 'glibc' : isLinux ? 'musl' : null;
const addonName = `diffusekit${libc ? `.${libc}` : ''}.node`;
const LIBRARY = /\.(so(\.\d+)*|dylib|dll)$/;

function check() {
  const files = fs.existsSync(out) ? fs.readdirSync(out) : [];
  if (!files.includes(addonName) || !files.some((f) => /ggml-cpu/.test(f))) {
    console.error(`diffusekit: no complete prebuild in ${path.relative(root, out)} (run \`npm run prebuild\`)`);
    process.exit(1);
  }
  console.error(`diffusekit: prebuild for ${tuple} present (${files.length} files)`);
}

function sonameOf(file) {
  // libggml.so.0.9.8 is loaded by its soname, libggml.so.0; modules keep their plain names.
  const versioned = /^(.+\.so)\.(\d+)\.[\d.]+$/.exec(file);
  return versioned ? `${versioned[1]}.${versioned[2]}` : file;
}

/**
 * Every engine symbol the addon leaves undefined must be defined by a library it ships with: with the CPU
 * backend in modules, a call by name into it would otherwise end the process at run time.
 */
function checkSymbols(files) {
  const symbols = (file, flag) => execFileSync('nm', ['-D', flag, path.join(out, file)], { encoding: 'utf8', maxBuffer: 64 << 20 })
    .split('\n').map((line) => line.trim().split(/\s+/).pop()).filter(Boolean);
  const defined = new Set(files.filter((f) => /^libggml(-base)?\.so/.test(f)).flatMap((f) => symbols(f, '--defined-only')));
  const missing = symbols(addonName, '--undefined-only').filter((s) => /^(ggml|gguf|sd)_/.test(s) && !defined.has(s));
  if (missing.length) {
    console.error(`diffusekit: the addon calls engine functions no shipped library defines: ${missing.join(', ')}`);
    process.exit(1);
  }
}

function layOut() {
  execFileSync(process.execPath, [path.join(root, 'scripts', 'build.mjs')], {
    stdio: 'inherit', cwd: root, env: { ...process.env, DIFFUSEKIT_PORTABLE: '1' },
  });
  fs.rmSync(out, { recursive: true, force: true });
  fs.mkdirSync(out, { recursive: true });
  const copied = [];
  for (const dir of built) {
    for (const file of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
      const from = path.join(dir, file);
      if (fs.lstatSync(from).isSymbolicLink()) continue; // the real file is copied under its soname
      let name;
      if (file === 'diffusekit.node') name = addonName;
      else if (LIBRARY.test(file)) name = sonameOf(file);
      else continue;
      const to = path.join(out, name);
      fs.copyFileSync(from, to);
      if (isLinux) execFileSync('strip', ['--strip-unneeded', to]);
      else if (os.platform() === 'darwin') execFileSync('strip', ['-x', to]);
      copied.push(name);
    }
  }
  if (isLinux) checkSymbols(copied);
  const pin = JSON.parse(fs.readFileSync(path.join(root, 'engine.json'), 'utf8'));
  const digest = (f) => crypto.createHash('sha256').update(fs.readFileSync(path.join(out, f))).digest('hex');
  const sizes = Object.fromEntries(copied.sort().map((f) => [f, fs.statSync(path.join(out, f)).size]));
  const total = Object.values(sizes).reduce((a, b) => a + b, 0);
  fs.writeFileSync(path.join(out, 'prebuild.json'), `${JSON.stringify({
    platform: tuple, libc, engine: { release: `${pin.pypi.package} ${pin.pypi.version}`, sha256: pin.pypi.sha256, patches: pin.patches },
    compiler: execFileSync(process.env.CXX || 'c++', ['--version'], { encoding: 'utf8' }).split('\n')[0],
    files: Object.fromEntries(copied.sort().map((f) => [f, { bytes: sizes[f], sha256: digest(f) }])),
  }, null, 2)}\n`);
  console.error(`diffusekit: prebuilds/${tuple}: ${copied.length} files, ${(total / 2 ** 20).toFixed(1)} MiB`);
  if (total > SIZE_BUDGET_MB * 2 ** 20) {
    console.error(`diffusekit: the prebuild exceeds its ${SIZE_BUDGET_MB} MiB budget`);
    process.exit(1);
  }
}

const gpuBackend = process.argv.includes('--backend') ? process.argv[process.argv.indexOf('--backend') + 1] : undefined;
if (gpuBackend && gpuBackend !== 'cpu') (await import('./prebuild-gpu.mjs')).layOutGpu(gpuBackend);
else if (process.argv.includes('--check')) check();
else layOut();
