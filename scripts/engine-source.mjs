#!/usr/bin/env node
// Resolves the pinned stable-diffusion.cpp source tree into deps/engine, patched.
// Order: DIFFUSEKIT_ENGINE_SRC (a local checkout) -> the ~/.cache copy -> the PyPI sdist -> a git clone.
// Prints the resolved directory. Nothing here is committed: deps/ is ignored.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const pin = JSON.parse(fs.readFileSync(path.join(root, 'engine.json'), 'utf8'));
const cacheDir = path.join(process.env.DIFFUSEKIT_CACHE_DIR || path.join(os.homedir(), '.cache', 'diffusekit'), 'engine');
const dest = path.join(root, 'deps', 'engine');

const log = (msg) => process.stderr.write(`diffusekit engine: ${msg}\n`);
const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');

function patchesDigest() {
  const h = createHash('sha256');
  for (const p of pin.patches) h.update(fs.readFileSync(path.join(root, p)));
  return h.digest('hex');
}

async function downloadSdist(target) {
  const { package: pkg, file, sha256: want } = pin.pypi;
  // The simple index (PEP 691 JSON) is what pip itself reads; mirrors serve it where the JSON API is absent.
  const index = (process.env.DIFFUSEKIT_PYPI_INDEX || process.env.PIP_INDEX_URL || 'https://pypi.org/simple').replace(/\/$/, '');
  const res = await fetch(`${index}/${pkg}/`, { headers: { Accept: 'application/vnd.pypi.simple.v1+json' } });
  if (!res.ok) throw new Error(`${index}/${pkg}/: HTTP ${res.status}`);
  const entry = (await res.json()).files?.find((f) => f.filename === file);
  if (!entry) throw new Error(`the index lists no ${file}`);
  log(`downloading ${entry.url}`);
  const download = await fetch(new URL(entry.url, `${index}/${pkg}/`));
  if (!download.ok) throw new Error(`download failed: HTTP ${download.status}`);
  const buf = Buffer.from(await download.arrayBuffer());
  const got = sha256(buf);
  if (got !== want) throw new Error(`sha256 mismatch for ${file}: expected ${want}, got ${got}`);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  fs.writeFileSync(`${target}.part`, buf);
  fs.renameSync(`${target}.part`, target);
}

function verifiedArchive(file) {
  return fs.existsSync(file) && sha256(fs.readFileSync(file)) === pin.pypi.sha256;
}

function unpack(archive, into) {
  const top = pin.pypi.file.replace(/\.tar\.gz$/, '');
  const tmp = `${into}.tmp`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  execFileSync('tar', ['xzf', archive, '-C', tmp, `${top}/${pin.pypi.subdir}`]);
  fs.rmSync(into, { recursive: true, force: true });
  fs.renameSync(path.join(tmp, top, pin.pypi.subdir), into);
  fs.rmSync(tmp, { recursive: true, force: true });
}

function gitClone(into) {
  const tmp = `${into}.git-tmp`;
  fs.rmSync(tmp, { recursive: true, force: true });
  execFileSync('git', ['clone', '--depth', '1', '--recurse-submodules', '--branch', pin.git.ref, pin.git.url, tmp], { stdio: 'inherit' });
  fs.rmSync(into, { recursive: true, force: true });
  fs.renameSync(path.join(tmp, pin.git.subdir), into);
  fs.rmSync(tmp, { recursive: true, force: true });
}

function applyPatches(dir) {
  for (const p of pin.patches) {
    execFileSync('patch', ['-p1', '--forward', '--silent', '-d', dir, '-i', path.join(root, p)], { stdio: 'inherit' });
  }
}

export async function resolveEngineSource() {
  const stampWant = `${pin.pypi.sha256} ${patchesDigest()} ${process.env.DIFFUSEKIT_ENGINE_SRC || ''}`;
  const stampFile = path.join(dest, '.diffusekit-stamp');
  // Unchanged pin and patches: keep the tree (and its mtimes) so the engine is not recompiled.
  if (fs.existsSync(stampFile) && fs.readFileSync(stampFile, 'utf8') === stampWant) return dest;

  if (process.env.DIFFUSEKIT_ENGINE_SRC) {
    const src = path.resolve(process.env.DIFFUSEKIT_ENGINE_SRC);
    if (!fs.existsSync(path.join(src, 'include', 'stable-diffusion.h'))) {
      throw new Error(`DIFFUSEKIT_ENGINE_SRC=${src} is not a stable-diffusion.cpp checkout (no include/stable-diffusion.h)`);
    }
    log(`using local checkout ${src}`);
    fs.rmSync(dest, { recursive: true, force: true });
    fs.cpSync(src, dest, { recursive: true, filter: (s) => !s.includes(`${path.sep}.git`) });
  } else {
    const archive = path.join(cacheDir, pin.pypi.file);
    try {
      if (verifiedArchive(archive)) log(`using cached ${archive}`);
      else await downloadSdist(archive);
      unpack(archive, dest);
    } catch (err) {
      log(`PyPI source release unavailable (${err.message}); trying git`);
      gitClone(dest);
    }
  }
  applyPatches(dest);
  fs.writeFileSync(stampFile, stampWant);
  return dest;
}

/**
 * The same pinned release without our patches, in deps/engine-baseline: what `npm run bench` builds the
 * engine's own sd-cli from, with the engine's default options, as the baseline to measure against.
 */
export async function resolveBaselineEngineSource() {
  const dir = path.join(root, 'deps', 'engine-baseline');
  const stampFile = path.join(dir, '.diffusekit-stamp');
  if (fs.existsSync(stampFile) && fs.readFileSync(stampFile, 'utf8') === pin.pypi.sha256) return dir;
  const archive = path.join(cacheDir, pin.pypi.file);
  if (!verifiedArchive(archive)) await downloadSdist(archive);
  unpack(archive, dir);
  fs.writeFileSync(stampFile, pin.pypi.sha256);
  return dir;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  resolveEngineSource().then((dir) => console.log(dir), (err) => {
    log(err.message);
    process.exit(1);
  });
}
