// The prebuilt (portable) addon as a user gets it: `npm pack` of this checkout, installed into an empty
// project by an npm whose PATH holds no cmake and no compiler, then loaded and run. The prebuild is made by
// `npm run prebuild` (scripts/prebuild.mjs; .ci/run does it before the tests): ggml's CPU backend as one
// module per CPU variant, of which the best for this CPU is loaded at run time (src/engine/backends.ts).
//
// Per variant: every variant this CPU can run generates, and its fast kernels match the engine's own
// (DIFFUSEKIT_CPU_KERNELS=reference) in that same variant within today's tolerances (test/helpers/kernels.ts):
// on the tiny SDXS layout (img2img 128) for all of them, and on the full SD 1.x layout (256) for the best variant and for
// haswell (AVX2, what most desktop CPUs get). A corrupt or missing variant falls back to the next best or
// fails with a typed error, never a crash.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kernelDifference, runKernels, SDXS_PIXEL_TOLERANCE, TOLERANCE, writeInitImage } from './helpers/kernels.js';
import { sd1Model, tinyModel } from './helpers/models.js';

const root = path.resolve(import.meta.dirname, '..');
const prebuildDir = path.join(root, 'prebuilds', `${os.platform()}-${os.arch()}`);
const hasPrebuild = fs.existsSync(prebuildDir) && fs.readdirSync(prebuildDir).some((f) => f.endsWith('.node'));
// CI makes the prebuild first, so there a missing one is a failure; a developer without one is told why.
const skip = !hasPrebuild && !process.env.CI;
if (skip) console.warn('prebuilt.test.ts skipped: no prebuild in prebuilds/ (run `npm run prebuild`)');
// The optional Vulkan package (`npm run build:vulkan`), run on Mesa's lavapipe: CI builds both, so there they
// are required; elsewhere the part is skipped with the reason.
const vulkanPackage = path.join(root, 'packages', `vulkan-${os.platform()}-${os.arch()}`);
// Mesa names lavapipe's ICD file lvp_icd.x86_64.json (22.x) or lvp_icd.json (25.x).
const hasLavapipe = (() => {
  try {
    return fs.readdirSync('/usr/share/vulkan/icd.d').some((f) => /^lvp_icd.*\.json$/.test(f));
  } catch {
    return false;
  }
})();
const skipVulkan = !(fs.existsSync(path.join(vulkanPackage, 'libggml-vulkan.so')) && hasLavapipe) && !process.env.CI;
if (skipVulkan && !skip) console.warn('prebuilt.test.ts: the Vulkan part is skipped: no packages/vulkan-*/libggml-vulkan.so (run `npm run build:vulkan`) or no lavapipe (apt-get install mesa-vulkan-drivers)');

// The optional CUDA package (`npm run build:cuda`; CI builds it for one architecture, restored from the GPU
// build cache while its inputs are unchanged). This machine has no NVIDIA driver or GPU: the module must be
// found beside the addon and say why it cannot run, never crash the process.
const cudaPackage = path.join(root, 'packages', `cuda-${os.platform()}-${os.arch()}`);
const skipCuda = !fs.existsSync(path.join(cudaPackage, 'libggml-cuda.so')) && !process.env.CI;
if (skipCuda && !skip) console.warn('prebuilt.test.ts: the CUDA part is skipped: no packages/cuda-*/libggml-cuda.so (run `DIFFUSEKIT_CUDA_ARCHITECTURES=90-real npm run build:cuda`)');
// cuBLAS is not in the package (docs/gpu.md, "What the package holds"): the registry's nvidia-cublas wheel, which
// the CUDA toolchain install holds, is what a user without a CUDA toolkit puts on the library path.
const cublasDir = path.join(process.env.DIFFUSEKIT_CACHE_DIR || path.join(os.homedir(), '.cache', 'diffusekit'), 'cuda', '13.0', 'nvidia', 'cu13', 'lib');

interface Probe {
  ok: boolean;
  code?: string;
  message?: string;
  info?: { dynamicBackends: boolean; cpuKernels: string; cpuConvKernels: boolean; cpuFeatures: string[]; cpuVariant: { name: string; reason: string; mode: string; candidates: { name: string; score: number; error?: string }[] } };
}

let work: string;
let bin: string;
let app: string;
let installLog: string;
let installStatus: number | null;
let tarballFiles: string[];
const installed = () => path.join(app, 'node_modules', 'diffusekit');

// What a user's environment keeps besides PATH: where the caches are, and the machine's TLS and proxy settings
// (a registry behind a TLS-inspecting proxy needs its CA).
const KEPT = /^(DIFFUSEKIT_CACHE_DIR|NODE_EXTRA_CA_CERTS|SSL_CERT_FILE|SSL_CERT_DIR|HTTPS?_PROXY|NO_PROXY|https?_proxy|no_proxy)$/;

/** The environment a user without a toolchain has: only our copy of node on PATH. */
function bareEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const kept = Object.fromEntries(Object.entries(process.env).filter(([key]) => KEPT.test(key)));
  return { ...kept, PATH: bin, HOME: os.homedir(), TMPDIR: os.tmpdir(), ONNXRUNTIME_NODE_INSTALL: 'skip', ...extra };
}

/** Runs `probe.mjs` in the installed project: engineInfo(), or the error loading the addon gave. */
function probe(extra: Record<string, string> = {}): Probe {
  const r = spawnSync(path.join(bin, 'node'), ['probe.mjs'], { cwd: app, env: bareEnv(extra), encoding: 'utf8' });
  expect(r.signal, r.stderr).toBeNull(); // never a crash
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

/** Packs an optional backend package (packages/<backend>-<platform>-<arch>) and installs it beside the prebuilt addon. */
function installBesideAddon(packageDir: string) {
  const npmCli = fs.realpathSync(execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim());
  const tarball = path.join(work, execFileSync('npm', ['pack', '--silent', '--pack-destination', work], { cwd: packageDir, encoding: 'utf8' }).trim().split('\n').pop()!);
  const install = spawnSync(path.join(bin, 'node'), [npmCli, 'install', '--no-audit', '--no-fund', '--prefer-offline', tarball], { cwd: app, env: bareEnv(), encoding: 'utf8' });
  expect(install.status, `${install.stdout}\n${install.stderr}`).toBe(0);
}

describe.skipIf(skip)('prebuilt binaries, installed from the packed tarball without a toolchain', () => {
  beforeAll(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'diffusekit-prebuilt-'));
    // A copy, not a link: npm puts the directory of the node it runs (process.execPath, /usr/bin) on the
    // PATH of install scripts, and that directory holds the compilers.
    bin = path.join(work, 'bin');
    fs.mkdirSync(bin);
    fs.copyFileSync(process.execPath, path.join(bin, 'node'));
    fs.chmodSync(path.join(bin, 'node'), 0o755);
    fs.symlinkSync('/bin/sh', path.join(bin, 'sh')); // npm runs install scripts through sh, which every machine has

    const tarball = path.join(work, execFileSync('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', work], { cwd: root, encoding: 'utf8' }).trim().split('\n').pop()!);
    tarballFiles = execFileSync('tar', ['tzf', tarball], { encoding: 'utf8' }).trim().split('\n');

    app = path.join(work, 'app');
    fs.mkdirSync(app);
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
    fs.writeFileSync(path.join(app, 'probe.mjs'), [
      "try { const { engineInfo } = await import('diffusekit'); console.log(JSON.stringify({ ok: true, info: engineInfo() })); }",
      'catch (err) { console.log(JSON.stringify({ ok: false, code: err.code, message: err.message })); }',
    ].join('\n'));
    const npmCli = fs.realpathSync(execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim());
    const started = performance.now();
    const install = spawnSync(path.join(bin, 'node'), [npmCli, 'install', '--no-audit', '--no-fund', '--prefer-offline', '--foreground-scripts', tarball], {
      cwd: app, env: bareEnv(), encoding: 'utf8',
    });
    console.info(`prebuilt: npm install of the tarball (${(fs.statSync(tarball).size / 2 ** 20).toFixed(1)} MiB) took ${((performance.now() - started) / 1000).toFixed(1)} s`);
    installStatus = install.status;
    installLog = `${install.stdout}\n${install.stderr}`;
  }, 600_000);

  afterAll(() => {
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it('the tarball carries the addon, the engine libraries and every CPU variant, and no build folder', () => {
    const tuple = `${os.platform()}-${os.arch()}`;
    const shipped = tarballFiles.filter((f) => f.startsWith(`package/prebuilds/${tuple}/`)).map((f) => path.basename(f));
    expect(shipped.some((f) => f.endsWith('.node'))).toBe(true);
    expect(shipped).toEqual(expect.arrayContaining(['libggml.so.0', 'libggml-base.so.0', 'prebuild.json']));
    const variants = shipped.filter((f) => /^libggml-cpu-.+\.so$/.test(f));
    expect(variants.length).toBeGreaterThanOrEqual(os.arch() === 'x64' ? 14 : 1);
    expect(tarballFiles.some((f) => f.startsWith('package/build/'))).toBe(false);
  });

  it('installs with no cmake and no compiler on PATH, using the prebuild', () => {
    expect(installStatus, installLog).toBe(0);
    expect(installLog).toContain('using the prebuilt');
    const toolchain = spawnSync('/bin/sh', ['-c', 'command -v cmake || command -v c++ || command -v g++ || command -v cc || command -v make'], { env: bareEnv() });
    expect(toolchain.status).not.toBe(0); // nothing to build with, really
    expect(fs.existsSync(path.join(installed(), 'build'))).toBe(false);
  });

  it('loads the best CPU variant for this CPU and says why', () => {
    const { ok, info, message } = probe();
    expect(ok, message).toBe(true);
    expect(info!.dynamicBackends).toBe(true);
    const { cpuVariant } = info!;
    expect(cpuVariant.mode).toBe('modules');
    const runnable = cpuVariant.candidates.filter((c) => c.score > 0);
    expect(runnable.length).toBeGreaterThan(0);
    expect(cpuVariant.name).toBe(runnable[0].name);
    expect(Math.max(...cpuVariant.candidates.map((c) => c.score))).toBe(runnable[0].score);
    expect(cpuVariant.reason).toMatch(/best of the \d+ variants this CPU can run/);
    // Our kernels are in the variant exactly when it is built for AVX-512 or for AVX2 with FMA and F16C.
    const has = (feature: string) => info!.cpuFeatures.includes(feature);
    expect(info!.cpuConvKernels).toBe(has('AVX512') || (has('AVX2') && has('FMA') && has('F16C')));
    console.info(`prebuilt: ${cpuVariant.name} (${cpuVariant.reason}); runnable: ${runnable.map((c) => c.name).join(', ')}`);
  });

  it('generates an image with the prebuilt addon', async () => {
    const out = path.join(work, 'prebuilt.png');
    fs.writeFileSync(path.join(app, 'generate.mjs'), [
      "import { Pipeline } from 'diffusekit';",
      'const pipe = await Pipeline.load({ model: process.argv[2], threads: 2 });',
      "const [image] = await pipe.generate({ prompt: 'a lighthouse at dusk', width: 64, height: 64, steps: 1, seed: 7 });",
      'await image.save(process.argv[3]);',
      'await pipe.dispose();',
    ].join('\n'));
    const r = spawnSync(path.join(bin, 'node'), ['generate.mjs', tinyModel(), out], { cwd: app, env: bareEnv(), encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const { width, height } = await sharp(out).metadata();
    expect([width, height]).toEqual([64, 64]);
    const { channels } = await sharp(out).stats();
    expect(Math.max(...channels.map((c) => c.stdev))).toBeGreaterThan(0); // an image, not a blank
  }, 300_000);

  describe('CPU variants', () => {
    const inits: Record<number, string> = {};
    let runnable: string[];
    let best: string;
    beforeAll(async () => {
      for (const size of [128, 256]) {
        inits[size] = path.join(work, `init-${size}.png`);
        await writeInitImage(inits[size], size);
      }
      const { info } = probe();
      runnable = info!.cpuVariant.candidates.filter((c) => c.score > 0).map((c) => c.name);
      best = info!.cpuVariant.name;
    });

    const module = () => path.join(installed(), 'lib', 'index.js');
    const compare = (model: string, variant: string, size: 128 | 256, pixelTolerance: number = TOLERANCE.f16.pixel) => {
      const job = { model, weightType: 'f16', size, seed: 42, init: inits[size] };
      const env = { DIFFUSEKIT_MODULE: module(), DIFFUSEKIT_CPU_VARIANT: variant };
      const reference = runKernels(job, 'reference', env);
      const fast = runKernels(job, 'fast', env);
      expect(fast.cpuVariant).toBe(variant);
      expect(reference.cpuKernels).toBe('reference');
      expect(fast.cpuKernels).toBe('fast');
      const diff = kernelDifference(fast, reference);
      expect(diff.range).toBeGreaterThan(0);
      expect(diff.latent, `${variant}: latent`).toBeLessThanOrEqual(TOLERANCE.f16.latent);
      expect(diff.pixel, `${variant}: pixels`).toBeLessThanOrEqual(pixelTolerance);
      return { fast, diff };
    };

    // SDXS at 128 for every variant (two runs each; at 256 the slowest variants made this 20 minutes), SD 1.x at 256.
    it('every variant this CPU can run matches the engine\'s own kernels (SDXS, img2img 128, f16)', () => {
      const rows: string[] = [];
      for (const variant of runnable) {
        const { fast, diff } = compare(tinyModel(), variant, 128, SDXS_PIXEL_TOLERANCE);
        rows.push(`${variant}: latent ${(diff.latent * 100).toFixed(2)}%, pixels ${diff.pixel}/255${fast.cpuConvKernels ? ', diffusekit conv kernels' : ''}`);
      }
      console.info(`prebuilt variants (fast vs reference):\n  ${rows.join('\n  ')}`);
      expect(rows.length).toBe(runnable.length);
    }, 1_200_000);

    it('the best variant and haswell match on the full SD 1.x layout (img2img 256, f16)', () => {
      for (const variant of new Set([best, ...(runnable.includes('haswell') ? ['haswell'] : [])])) {
        const { fast, diff } = compare(sd1Model(), variant, 256);
        console.info(`prebuilt ${variant}, SD 1.x: latent ${(diff.latent * 100).toFixed(2)}%, pixels ${diff.pixel}/255`);
        if (fast.cpuConvKernels) expect(diff.latent).toBeGreaterThan(0); // the fast path really ran
      }
    }, 1_200_000);
  });

  describe('a missing or broken variant', () => {
    let variants: string;
    beforeAll(() => {
      variants = path.join(work, 'variants');
      fs.mkdirSync(variants);
      for (const f of fs.readdirSync(path.join(installed(), 'prebuilds', `${os.platform()}-${os.arch()}`))) {
        if (/ggml-cpu-/.test(f)) fs.copyFileSync(path.join(installed(), 'prebuilds', `${os.platform()}-${os.arch()}`, f), path.join(variants, f));
      }
    });

    it('a corrupt best variant is skipped for the next best, and the report says so', () => {
      const { info } = probe({ DIFFUSEKIT_BACKEND_DIR: variants });
      const [first, second] = info!.cpuVariant.candidates.filter((c) => c.score > 0);
      const file = fs.readdirSync(variants).find((f) => f.includes(`ggml-cpu-${first.name}.`))!;
      const bytes = fs.readFileSync(path.join(variants, file));
      fs.writeFileSync(path.join(variants, file), bytes.subarray(0, 4096)); // a truncated download
      try {
        const after = probe({ DIFFUSEKIT_BACKEND_DIR: variants });
        expect(after.ok, after.message).toBe(true);
        expect(after.info!.cpuVariant.name).toBe(second.name);
        const broken = after.info!.cpuVariant.candidates.find((c) => c.name === first.name)!;
        expect(broken.error).toBeTruthy();
        expect(broken.score).toBe(0);
      } finally {
        fs.writeFileSync(path.join(variants, file), bytes);
      }
    });

    it('a variant that is asked for but missing, or cannot run on this CPU, is a typed error', () => {
      const missing = probe({ DIFFUSEKIT_BACKEND_DIR: variants, DIFFUSEKIT_CPU_VARIANT: 'no-such-cpu' });
      expect(missing.ok).toBe(false);
      expect(missing.code).toBe('ERR_NATIVE_BINDING');
      expect(missing.message).toMatch(/DIFFUSEKIT_CPU_VARIANT=no-such-cpu is not among the variants/);
      const { info } = probe({ DIFFUSEKIT_BACKEND_DIR: variants });
      const unrunnable = info!.cpuVariant.candidates.find((c) => c.score === 0);
      if (unrunnable) {
        const r = probe({ DIFFUSEKIT_BACKEND_DIR: variants, DIFFUSEKIT_CPU_VARIANT: unrunnable.name });
        expect(r.ok).toBe(false);
        expect(r.message).toMatch(/cannot run on this CPU/);
      }
    });

    it('no variant at all is a typed error that says how to get one', () => {
      const empty = path.join(work, 'empty');
      fs.mkdirSync(empty);
      const r = probe({ DIFFUSEKIT_BACKEND_DIR: empty });
      expect(r.ok).toBe(false);
      expect(r.code).toBe('ERR_NATIVE_BINDING');
      expect(r.message).toMatch(/no CPU backend module.*--build-from-source/);
    });
  });

  describe.skipIf(skipCuda)('the CUDA backend package, on a machine without a GPU or NVIDIA driver', () => {
    type Backend = { kind: string; loaded: boolean; file?: string; reason?: string; message?: string; devices: unknown[] };
    const cudaOf = (info: unknown) => (info as { gpuBackends: Backend[] }).gpuBackends.find((b) => b.kind === 'cuda')!;
    beforeAll(() => installBesideAddon(cudaPackage), 300_000);

    it('installs as @diffusekit/cuda-<platform>-<arch> beside the addon; without cuBLAS its reason is missing-library, naming it', () => {
      const { ok, info, message } = probe();
      expect(ok, message).toBe(true);
      const cuda = cudaOf(info);
      expect(cuda).toMatchObject({ loaded: false, reason: 'missing-library', devices: [] });
      expect(cuda.file).toContain(path.join('node_modules', '@diffusekit', `cuda-${os.platform()}-${os.arch()}`, 'libggml-cuda.so'));
      expect(cuda.message).toMatch(/libcublas(Lt)?\.so\.13/);
    });

    it("with cuBLAS on the library path but no driver: reason no-driver; 'auto' generates on the CPU and says why, 'cuda' is DeviceUnavailableError", () => {
      fs.writeFileSync(path.join(app, 'no-driver.mjs'), [
        "import { DeviceUnavailableError, engineInfo, Pipeline } from 'diffusekit';",
        'const said = [];',
        "const pipe = await Pipeline.load({ model: process.argv[2], threads: 2, device: 'auto', onLog: (level, text) => said.push(text) });",
        "const [image] = await pipe.generate({ prompt: 'a lighthouse', width: 64, height: 64, steps: 1, seed: 7 });",
        'const { device, components } = pipe.info;',
        'pipe.dispose();',
        "const err = await Pipeline.load({ model: process.argv[2], threads: 2, device: 'cuda' }).catch((e) => e);",
        "const cuda = engineInfo().gpuBackends.find((b) => b.kind === 'cuda');",
        "console.log(JSON.stringify({ device, components, size: [image.width, image.height], said: said.filter((t) => t.startsWith('diffusekit: device auto:')),",
        '  error: { typed: err instanceof DeviceUnavailableError, code: err.code, reason: err.reason, message: err.message }, cuda }));',
      ].join('\n'));
      const r = spawnSync(path.join(bin, 'node'), ['no-driver.mjs', tinyModel()], { cwd: app, env: bareEnv({ LD_LIBRARY_PATH: cublasDir }), encoding: 'utf8' });
      expect(r.signal, r.stderr).toBeNull();
      expect(r.status, r.stderr).toBe(0);
      const result = JSON.parse(r.stdout.trim().split('\n').pop()!);
      expect(result.cuda).toMatchObject({ loaded: true, reason: 'no-driver', devices: [] });
      expect(result.cuda.message).toMatch(/libcuda\.so\.1/);
      expect(result.device).toMatchObject({ requested: 'auto', kind: 'cpu', name: 'CPU' });
      expect(result.device.reason).toMatch(/cuda: no CUDA driver: libcuda\.so\.1 is not installed/);
      expect(result.said).toHaveLength(1);
      expect(result.components).toEqual({ diffusionModel: 'CPU', textEncoders: 'CPU', vae: 'CPU' });
      expect(result.size).toEqual([64, 64]);
      expect(result.error).toMatchObject({ typed: true, code: 'ERR_DEVICE_UNAVAILABLE', reason: 'no-driver' });
      expect(result.error.message).toMatch(/^device 'cuda' is not available: /);
    }, 300_000);
  });

  describe.skipIf(skipVulkan)('the Vulkan backend package, on lavapipe (a Vulkan device on the CPU)', () => {
    // ggml-vulkan leaves CPU devices out unless GGML_VK_VISIBLE_DEVICES names them: lavapipe is never taken
    // for a GPU under 'auto', and the test makes it visible to check discovery and placement on a real Vulkan
    // device. Generating on it is not tested: Debian 12's lavapipe (Mesa 22.3) crashes inside its own driver on
    // ggml's UNet shaders, and Mesa 25.0's compiles each pipeline on first use so slowly that SDXS at 64x64 does
    // not finish in 10 minutes on two cores (docs/gpu.md).
    const LAVAPIPE = { GGML_VK_VISIBLE_DEVICES: '0' };
    beforeAll(() => installBesideAddon(vulkanPackage), 300_000);

    it('installs as @diffusekit/vulkan-<platform>-<arch> beside the addon, and its module loads without a GPU: no device, so auto stays on the CPU', () => {
      const { ok, info, message } = probe() as Probe & { info: { gpuBackends: { kind: string; loaded: boolean; file?: string; reason?: string; devices: unknown[] }[] } };
      expect(ok, message).toBe(true);
      const vulkan = info!.gpuBackends.find((b) => b.kind === 'vulkan')!;
      expect(vulkan).toMatchObject({ loaded: true, reason: 'no-device', devices: [] });
      expect(vulkan.file).toContain(path.join('node_modules', '@diffusekit', `vulkan-${os.platform()}-${os.arch()}`));
    });

    it('with lavapipe made visible (GGML_VK_VISIBLE_DEVICES=0), lists it and places every component of a Pipeline on it', () => {
      fs.writeFileSync(path.join(app, 'place-vulkan.mjs'), [
        "import { engineInfo, Pipeline } from 'diffusekit';",
        "const pipe = await Pipeline.load({ model: process.argv[2], threads: 2, device: 'vulkan' });",
        'const { device, components } = pipe.info;',
        'await pipe.dispose();',
        "const vulkan = engineInfo().gpuBackends.find((b) => b.kind === 'vulkan');",
        'console.log(JSON.stringify({ device, components, vulkan, devices: engineInfo().devices.map((d) => [d.name, d.type]) }));',
      ].join('\n'));
      const r = spawnSync(path.join(bin, 'node'), ['place-vulkan.mjs', tinyModel()], { cwd: app, env: bareEnv(LAVAPIPE), encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      const result = JSON.parse(r.stdout.trim().split('\n').pop()!);
      expect(result.device).toMatchObject({ requested: 'vulkan', kind: 'vulkan', name: 'Vulkan0' });
      expect(result.device.description).toMatch(/llvmpipe/);
      expect(result.components).toEqual({ diffusionModel: 'Vulkan0', textEncoders: 'Vulkan0', vae: 'Vulkan0' });
      expect(result.vulkan).toMatchObject({ loaded: true });
      expect(result.devices).toContainEqual(['Vulkan0', 'gpu']);
    }, 300_000);
  });
});
