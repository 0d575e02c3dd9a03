#!/usr/bin/env node
// Prepares what bench/gpu-check.sh needs on the GPU machine, which has no network (docs/gpu.md, "GPU check"),
// into bench/.gpu-carry/ (ignored; at most 64 MiB travel with one device call, this is about 50):
//   engine/   the pinned engine source (engine.json's subdir of the sdist, from the ~/.cache copy), repacked
//             as .tar.xz: 20 MiB of sdist become a few
//   layouts/  sd1.json, sdxl.json: tensor names, shapes and fill rules of diffusekit's synthetic SD 1.5 and
//             SDXL base (src/models/architectures/), from which bench/gpu_models.py writes the checkpoints there
//   wheels/   diffusers and the pure-Python packages it imports, for Python 3.12 (PyTorch is already there)
// Then prints the `carry` list for the device call. Run `npx tsc -p tsconfig.json` first (lib/ is used).
//   --with-node   also carry lib/ and the Node packages the Pipeline needs (sharp, ...; 23 MiB), for the
//                 Pipeline-contract checks (bench/gpu-check.mjs): only when the GPU machine has Node.js
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { syntheticLayout } from '../lib/index.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const carry = path.join(root, 'bench', '.gpu-carry');
const pin = JSON.parse(fs.readFileSync(path.join(root, 'engine.json'), 'utf8'));
// diffusers and what it imports that a PyTorch install lacks; numpy, filelock, typing_extensions, fsspec,
// jinja2 come with PyTorch. --no-deps: exactly these, so the size stays known.
const withNode = process.argv.includes('--with-node');
// With Node's packages there is no room for numpy's 16 MiB: --with-node counts on the machine's numpy.
const WHEELS = [
  ...(withNode ? [] : ['numpy==2.3.5']), 'diffusers==0.35.2', 'huggingface_hub==0.36.0', 'safetensors==0.6.2', 'regex', 'pillow', 'requests', 'urllib3', 'idna',
  'certifi', 'charset_normalizer', 'importlib_metadata', 'zipp', 'tqdm', 'pyyaml', 'packaging',
];

fs.mkdirSync(path.join(carry, 'engine'), { recursive: true });
fs.mkdirSync(path.join(carry, 'layouts'), { recursive: true });
const sdist = path.join(process.env.DIFFUSEKIT_CACHE_DIR || path.join(os.homedir(), '.cache', 'diffusekit'), 'engine', pin.pypi.file);
if (!fs.existsSync(sdist)) throw new Error(`no ${sdist}: run \`node scripts/engine-source.mjs\` first`);
const top = pin.pypi.file.replace(/\.tar\.gz$/, '');
const unpacked = fs.mkdtempSync(path.join(os.tmpdir(), 'diffusekit-gpu-prepare-'));
execFileSync('tar', ['xzf', sdist, '-C', unpacked, `${top}/${pin.pypi.subdir}`]);
fs.rmSync(path.join(carry, 'engine'), { recursive: true, force: true });
fs.mkdirSync(path.join(carry, 'engine'));
// What the build does not read (image codecs are off, ggml's examples and tests are not built) stays behind.
const exclude = ['thirdparty/libwebp', 'thirdparty/libwebm', 'ggml/examples', 'ggml/tests', 'docs', 'assets'].map((d) => `--exclude=./${d}`);
execFileSync('sh', ['-c', `tar cf - ${exclude.join(' ')} . | xz -T0 -6 > "$0"`, path.join(carry, 'engine', 'engine.tar.xz')], { cwd: path.join(unpacked, top, pin.pypi.subdir), stdio: 'inherit' });
fs.rmSync(unpacked, { recursive: true, force: true });
for (const architecture of ['sd1', 'sdxl']) {
  fs.writeFileSync(path.join(carry, 'layouts', `${architecture}.json`), JSON.stringify(syntheticLayout(architecture)));
}
execFileSync('python3', [
  '-m', 'pip', 'download', '--quiet', '--no-deps', '--only-binary=:all:', '--python-version', '3.12', '--implementation', 'cp',
  '--platform', 'manylinux_2_28_x86_64', '--platform', 'manylinux_2_17_x86_64', '--platform', 'manylinux2014_x86_64', '--platform', 'any',
  '-d', path.join(carry, 'wheels'), ...WHEELS,
], { stdio: 'inherit' });
const size = (dir) => fs.readdirSync(dir, { recursive: true }).reduce((n, f) => n + (fs.statSync(path.join(dir, f)).isFile() ? fs.statSync(path.join(dir, f)).size : 0), 0);
const node = !withNode ? [] : ['lib', 'node_modules/sharp', 'node_modules/@img', 'node_modules/node-addon-api', 'node_modules/node-gyp-build', 'node_modules/detect-libc', 'node_modules/semver'];
const total = [carry, ...node.map((d) => path.join(root, d))].reduce((n, d) => n + (fs.existsSync(d) ? size(d) : 0), 0);
console.error(`to carry: ${(total / 2 ** 20).toFixed(1)} MiB (limit 64, with the tracked tree)`);
console.log(JSON.stringify(['bench/.gpu-carry', ...node]));
