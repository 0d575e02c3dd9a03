#!/usr/bin/env node
// What the Vulkan backend module (scripts/prebuild.mjs --backend vulkan) builds with, on Debian 12:
// - Vulkan headers newer than Debian 12's 1.3.239 (ggml-vulkan uses VK_KHR_shader_bfloat16 and
//   VK_EXT_shader_64bit_indexing): Debian 13's libvulkan-dev 1.4.309, fetched from deb.debian.org as a .deb,
//   checked against its pinned digest and unpacked into ~/.cache/diffusekit/vulkan/<version> (never installed,
//   never committed; DIFFUSEKIT_CACHE_DIR moves it);
// - glslc (Debian 12's shaderc 2023.2, package `glslc`) and the loader (`libvulkan1`), from the system: ggml's
//   CMake probes glslc for each optional shader extension and leaves out those it lacks.
// Prints the include folder.
//   node scripts/vulkan-toolchain.mjs           fetch when missing, then print the include folder
//   node scripts/vulkan-toolchain.mjs --check   only print it, or fail when it is not there
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const VULKAN_HEADERS = {
  version: '1.4.309.0-1',
  url: 'https://deb.debian.org/debian/pool/main/v/vulkan-loader/libvulkan-dev_1.4.309.0-1_amd64.deb',
  sha256: '8d329d465e16168afff58b1bd0dd6db46aac2cc3f56054a481b25a04e90b345a',
};

const cacheRoot = process.env.DIFFUSEKIT_CACHE_DIR || path.join(os.homedir(), '.cache', 'diffusekit');
const target = path.join(cacheRoot, 'vulkan', VULKAN_HEADERS.version);
/** The unpacked headers: vulkan/vulkan_core.h, vulkan/vulkan.hpp. */
export const vulkanInclude = path.join(target, 'usr', 'include');
const log = (msg) => process.stderr.write(`diffusekit vulkan: ${msg}\n`);

/** The system programs and libraries the build needs besides the headers, with the Debian package of each. */
export const VULKAN_SYSTEM = {
  glslc: { file: '/usr/bin/glslc', package: 'glslc' },
  loader: { file: `/usr/lib/${os.arch() === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu/libvulkan.so.1`, package: 'libvulkan1' },
};

function installed() {
  return fs.existsSync(path.join(vulkanInclude, 'vulkan', 'vulkan_core.h'));
}

async function install() {
  const missing = Object.values(VULKAN_SYSTEM).filter((s) => !fs.existsSync(s.file)).map((s) => s.package);
  if (missing.length) throw new Error(`the Vulkan build needs the Debian packages ${missing.join(', ')} (apt-get install ${missing.join(' ')})`);
  log(`fetching Vulkan headers ${VULKAN_HEADERS.version} (${VULKAN_HEADERS.url})`);
  const res = await fetch(VULKAN_HEADERS.url);
  if (!res.ok) throw new Error(`${VULKAN_HEADERS.url}: HTTP ${res.status}`);
  const deb = Buffer.from(await res.arrayBuffer());
  const digest = crypto.createHash('sha256').update(deb).digest('hex');
  if (digest !== VULKAN_HEADERS.sha256) throw new Error(`${VULKAN_HEADERS.url}: sha256 ${digest}, expected ${VULKAN_HEADERS.sha256}`);
  const tmp = `${target}.${process.pid}.part`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  const file = path.join(tmp, 'libvulkan-dev.deb');
  fs.writeFileSync(file, deb);
  execFileSync('dpkg-deb', ['-x', file, tmp]);
  fs.rmSync(file);
  fs.rmSync(target, { recursive: true, force: true });
  fs.renameSync(tmp, target);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const check = process.argv.includes('--check');
  (async () => {
    if (!installed()) {
      if (check) throw new Error(`no Vulkan headers in ${target} (run node scripts/vulkan-toolchain.mjs)`);
      await install();
    }
    console.log(vulkanInclude);
  })().catch((err) => {
    log(err.message);
    process.exit(1);
  });
}
