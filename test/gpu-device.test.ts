// Device choice without a GPU (docs/gpu.md): `device: 'auto'` falls back to the CPU and says why in a log
// line, `device: 'cuda'` rejects with DeviceUnavailableError and its reason, a GPU backend module that is
// missing or does not load is a reason, never a crash. The built CUDA package itself, installed beside the
// prebuilt addon (missing cuBLAS, no driver), is tested in test/prebuilt.test.ts.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceUnavailableError, engineInfo, InvalidArgumentError, Pipeline, type LogLevel } from '../src/index.js';
import { deviceHost } from '../src/engine/binding.js';
import { discoverGpuBackend, parseDevice } from '../src/engine/devices.js';
import { resolveServerConfig } from '../src/server/config.js';
import { tempDir, tinyModel } from './helpers/models.js';


describe('device option', () => {
  it('parses auto, cpu, cuda, cuda:N, vulkan, vulkan:N and names the option in errors', () => {
    expect(parseDevice('device', 'auto')).toEqual({ kind: 'auto', index: undefined });
    expect(parseDevice('device', 'CUDA:1')).toEqual({ kind: 'cuda', index: 1 });
    expect(parseDevice('device', 'vulkan')).toEqual({ kind: 'vulkan', index: undefined });
    for (const bad of ['gpu', 'cpu:0', 'auto:1', 'cuda:', 'cuda:x', 3, null]) {
      expect(() => parseDevice('device', bad)).toThrow(InvalidArgumentError);
    }
    expect(() => parseDevice('device', 'gpu')).toThrow(/Expected 'auto', 'cpu', 'cuda', 'cuda:N', 'vulkan' or 'vulkan:N' for device/);
  });

  it('the server takes a device list for its workers in turn, checked entry by entry', () => {
    expect(resolveServerConfig({}).devices).toEqual(['auto']);
    expect(resolveServerConfig({ workers: 2, devices: ['CUDA:0', 'cuda:1'] }).devices).toEqual(['cuda:0', 'cuda:1']);
    expect(() => resolveServerConfig({ devices: ['cuda:0', 'gpu1'] })).toThrow(/for devices\[1\]/);
    expect(() => resolveServerConfig({ devices: [] })).toThrow(/for devices/);
  });

  it('rejects a malformed device before loading anything', async () => {
    await expect(Pipeline.load({ model: tinyModel(), device: 'gpu' as never })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG', parameter: 'device' });
  });
});

describe('without a GPU', () => {
  let pipe: Pipeline;
  const lines: [LogLevel, string][] = [];

  beforeAll(async () => {
    pipe = await Pipeline.load({ model: tinyModel(), threads: 2, device: 'auto', onLog: (level, text) => lines.push([level, text]) });
  });
  afterAll(() => pipe?.dispose());

  it("engineInfo lists the CPU device and why each GPU backend has no device", () => {
    const info = engineInfo();
    const cpu = info.devices.find((d) => d.type === 'cpu');
    expect(cpu).toBeDefined();
    expect(cpu!.memoryTotal).toBeGreaterThan(0);
    expect(info.devices.filter((d) => d.type === 'gpu')).toEqual([]);
    expect(info.gpuBackends.map((b) => b.kind)).toEqual(['cuda', 'vulkan']);
    for (const backend of info.gpuBackends) {
      expect(backend.devices).toEqual([]);
      expect(backend.reason).toMatch(/^(no-backend-library|missing-library|not-loadable|no-driver|no-device)$/);
      expect(backend.message).toBeTruthy();
    }
    // A build from source links the CPU backend alone: there is no GPU module to load.
    if (!info.dynamicBackends && info.backend === 'cpu') expect(info.gpuBackends[0].reason).toBe('no-backend-library');
  });

  it("'auto' falls back to the CPU, says so in one log line, and runs every component there", async () => {
    expect(pipe.info.device).toMatchObject({ requested: 'auto', kind: 'cpu', name: 'CPU' });
    expect(pipe.info.device.reason).toMatch(/^no GPU \(cuda: .+; vulkan: .+\)$/);
    const said = lines.filter(([, text]) => text.startsWith('diffusekit: device auto:'));
    expect(said).toHaveLength(1);
    expect(said[0][0]).toBe('info');
    expect(said[0][1]).toMatch(/running on CPU .*no GPU \(cuda: .*\); running on the CPU$/);
    expect(pipe.info.components).toEqual({ diffusionModel: 'CPU', textEncoders: 'CPU', vae: 'CPU' });
    const [image] = await pipe.generate({ prompt: 'a lighthouse', width: 64, height: 64, steps: 1, seed: 7 });
    expect([image.width, image.height]).toEqual([64, 64]);
  });

  it("'cuda' and 'cuda:1' reject with DeviceUnavailableError and the reason, and the process carries on", async () => {
    const reason = engineInfo().gpuBackends[0].reason;
    for (const device of ['cuda', 'cuda:1'] as const) {
      const err = await Pipeline.load({ model: tinyModel(), threads: 2, device }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DeviceUnavailableError);
      expect(err).toMatchObject({ code: 'ERR_DEVICE_UNAVAILABLE', device, reason });
      expect((err as Error).message).toMatch(new RegExp(`^device '${device}' is not available: `));
    }
    const [image] = await pipe.generate({ prompt: 'still here', width: 64, height: 64, steps: 1, seed: 7 });
    expect(image.width).toBe(64);
  });

  it("'cpu' runs on the CPU with what was asked for as the reason", async () => {
    const cpu = await Pipeline.load({ model: tinyModel(), threads: 2, device: 'cpu', vaeOnCpu: true });
    try {
      expect(cpu.info.device).toMatchObject({ requested: 'cpu', kind: 'cpu', reason: 'asked for' });
      expect(cpu.info.components.vae).toBe('CPU');
    } finally {
      cpu.dispose();
    }
  });

  it('checks the GPU memory controls like every other option', async () => {
    await expect(Pipeline.load({ model: tinyModel(), maxVram: -1 })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG', parameter: 'maxVram' });
    await expect(Pipeline.load({ model: tinyModel(), vaeOnCpu: 'yes' as never })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG', parameter: 'vaeOnCpu' });
  });
});

describe('GPU backend modules that cannot be used', () => {
  // The real addon's loader, asked as a portable addon would ask it, on files in a temporary folder.
  const host = () => ({ ...deviceHost(), dynamicBackends: true });

  it('a folder without the module is the reason no-backend-library, naming where it looked', () => {
    const empty = tempDir();
    const status = discoverGpuBackend('cuda', { ...host(), addonDir: empty }, {});
    expect(status).toMatchObject({ kind: 'cuda', loaded: false, devices: [], reason: 'no-backend-library' });
    expect(status.message).toContain(empty);
    expect(status.message).toContain(`@diffusekit/cuda-${os.platform()}-${os.arch()}`);
  });

  it('a corrupt module is the reason not-loadable, with the loader\'s words, and DIFFUSEKIT_BACKEND_DIR is searched first', () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'libggml-cuda.so'), Buffer.from('not an ELF file at all'));
    const status = discoverGpuBackend('cuda', { ...host(), addonDir: tempDir() }, { DIFFUSEKIT_BACKEND_DIR: dir });
    expect(status).toMatchObject({ loaded: false, reason: 'not-loadable', file: path.join(dir, 'libggml-cuda.so') });
    expect(status.message).toMatch(/does not load: .*(invalid ELF header|file too short)/);
  });
});
