import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { DeviceUnavailableError, type DeviceFailure } from '../errors.js';
import { invalidParameter, isString } from '../util/is.js';
import type { BackendLoader } from './backends.js';
import type { NativeDevice } from './binding.js';

// Which device a Pipeline runs on (docs/gpu.md). GPU backends are ggml modules (libggml-cuda.so,
// libggml-vulkan.so) that a portable addon loads at run time, found next to the CPU variants, in
// DIFFUSEKIT_BACKEND_DIR, or in their optional package (@diffusekit/cuda-linux-x64); a build from source with
// DIFFUSEKIT_BACKEND=cuda has its backend linked in. Each backend is tried once per process; what went wrong
// (no module, a library it needs missing, no driver, a driver too old, no device) is kept as the reason that
// `device: 'cuda'` rejects with and that `device: 'auto'` logs before it falls back to the CPU.

export const GPU_KINDS = ['cuda', 'vulkan'] as const;
export type GpuKind = (typeof GPU_KINDS)[number];
/** 'auto' (the best found: CUDA, then Vulkan, then the CPU), 'cpu', a GPU backend, or its N-th device. */
export type DeviceSpec = 'auto' | 'cpu' | GpuKind | `${GpuKind}:${number}`;

interface GpuBackend {
  /** ggml's registry name and the prefix of its device names (CUDA0, Vulkan0). */
  registry: string;
  module: RegExp;
  /** The driver library the module's runtime opens, by the name the dynamic loader knows it. */
  driver: Partial<Record<NodeJS.Platform, string>>;
  /** The oldest driver the module runs on (CUDA 13.0 needs R580), read where the platform tells it. */
  minimumDriver?: number;
}

const GPU_BACKENDS: Record<GpuKind, GpuBackend> = {
  cuda: { registry: 'CUDA', module: /^(?:lib)?ggml-cuda\.(?:so|dll|dylib)$/, driver: { linux: 'libcuda.so.1', win32: 'nvcuda.dll' }, minimumDriver: 580 },
  vulkan: { registry: 'Vulkan', module: /^(?:lib)?ggml-vulkan\.(?:so|dll|dylib)$/, driver: { linux: 'libvulkan.so.1', win32: 'vulkan-1.dll', darwin: 'libvulkan.1.dylib' } },
};

/** What became of one GPU backend in this process. */
export interface GpuBackendStatus {
  kind: GpuKind;
  /** Registered with the engine (its devices may still be none). */
  loaded: boolean;
  /** The module file, when one was found. */
  file?: string;
  devices: NativeDevice[];
  /** Why it gives no device. */
  reason?: DeviceFailure;
  message?: string;
}

/** The device a Pipeline runs on, and why that one. */
export interface ResolvedDevice {
  /** What was asked for ('auto', 'cuda:1', ...). */
  requested: string;
  /** The engine's device name: 'CPU', 'CUDA0', 'Vulkan0'. */
  name: string;
  kind: 'cpu' | GpuKind;
  /** The device's own description ('NVIDIA H200', the CPU's model). */
  description: string;
  reason: string;
}

/** The addon's side of device discovery (native/backends.cc) and where it was loaded from. */
export interface DeviceHost {
  loader: BackendLoader & { backendDevices(): NativeDevice[] };
  /** The folder of the loaded addon (its CPU variants are there in a portable build). */
  addonDir: string;
  /** A portable addon, which loads backend modules; a build from source has its backends linked in. */
  dynamicBackends: boolean;
}

const statuses = new Map<GpuKind, GpuBackendStatus>();

function message(err: unknown): string {
  return (err as Error).message ?? String(err);
}

/** The optional package that ships a GPU backend for this platform: @diffusekit/cuda-linux-x64. */
export function gpuPackageName(kind: GpuKind): string {
  return `@diffusekit/${kind}-${os.platform()}-${os.arch()}`;
}

/** Folders searched for a GPU backend module, in order. */
export function gpuModuleDirs(kind: GpuKind, addonDir: string, env: NodeJS.ProcessEnv = process.env): string[] {
  // DIFFUSEKIT_BACKEND_DIR is the one folder of backend modules that replaces the addon's for the CPU variants
  // (src/engine/backends.ts); a GPU module is looked for there first, then beside the addon, then in its package.
  const dirs = env.DIFFUSEKIT_BACKEND_DIR ? [env.DIFFUSEKIT_BACKEND_DIR, addonDir] : [addonDir];
  try {
    dirs.push(path.dirname(createRequire(import.meta.url).resolve(`${gpuPackageName(kind)}/package.json`)));
  } catch {
    // the optional package is not installed
  }
  return [...new Set(dirs.map((d) => path.resolve(d)))];
}

function findModule(kind: GpuKind, dirs: string[]): string | undefined {
  for (const dir of dirs) {
    let files: string[];
    try {
      files = fs.readdirSync(dir);
    } catch {
      continue;
    }
    const file = files.find((f) => GPU_BACKENDS[kind].module.test(f));
    if (file) return path.join(dir, file);
  }
  return undefined;
}

/** The NVIDIA kernel driver's version (580.65 -> 580), where Linux tells it; undefined elsewhere. */
export function nvidiaDriverMajor(versionFile = '/proc/driver/nvidia/version'): number | undefined {
  try {
    const match = /Kernel Module\s+(?:for \w+\s+)?(\d+)\.\d+/.exec(fs.readFileSync(versionFile, 'utf8'));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Why a backend that is registered found no device: no driver, a driver too old, or no GPU. */
function noDeviceReason(kind: GpuKind, host: DeviceHost): { reason: DeviceFailure; message: string } {
  const spec = GPU_BACKENDS[kind];
  const driver = spec.driver[os.platform()];
  if (driver) {
    try {
      host.loader.probeBackend(driver);
    } catch (err) {
      return { reason: 'no-driver', message: `no ${spec.registry} driver: ${driver} is not installed (${message(err)})` };
    }
  }
  const major = kind === 'cuda' ? nvidiaDriverMajor() : undefined;
  if (major !== undefined && spec.minimumDriver !== undefined && major < spec.minimumDriver) {
    return { reason: 'driver-too-old', message: `the NVIDIA driver is ${major}; the CUDA backend (CUDA 13.0) needs ${spec.minimumDriver} or newer` };
  }
  return { reason: 'no-device', message: `the ${spec.registry} backend found no device` };
}

function registered(kind: GpuKind, host: DeviceHost): NativeDevice[] {
  return host.loader.backendDevices().filter((d) => d.backend === GPU_BACKENDS[kind].registry);
}

/** Loads a GPU backend once per process (a portable addon) and reports its devices, or why there are none. */
export function gpuBackend(kind: GpuKind, host: DeviceHost, env: NodeJS.ProcessEnv = process.env): GpuBackendStatus {
  const known = statuses.get(kind);
  if (known) return known;
  const status = discoverGpuBackend(kind, host, env);
  statuses.set(kind, status);
  return status;
}

/** Looks for, opens and registers a GPU backend (uncached: gpuBackend keeps the first answer). */
export function discoverGpuBackend(kind: GpuKind, host: DeviceHost, env: NodeJS.ProcessEnv = process.env): GpuBackendStatus {
  const linked = registered(kind, host);
  if (linked.length > 0) return { kind, loaded: true, devices: linked };
  const name = GPU_BACKENDS[kind].registry;
  if (!host.dynamicBackends) {
    return {
      kind, loaded: false, devices: [], reason: 'no-backend-library',
      message: `this addon was built from source without the ${name} backend (build/Release); install the prebuilt addon with ${gpuPackageName(kind)}, or build with DIFFUSEKIT_BACKEND=${kind} (docs/gpu.md)`,
    };
  }
  const dirs = gpuModuleDirs(kind, host.addonDir, env);
  const file = findModule(kind, dirs);
  if (!file) {
    return {
      kind, loaded: false, devices: [], reason: 'no-backend-library',
      message: `no ${name} backend module (libggml-${kind}) in ${dirs.join(', ')}; install ${gpuPackageName(kind)}`,
    };
  }
  // Opening it first says which library it needs is missing (the loader's own words), before ggml registers it.
  try {
    host.loader.probeBackend(file);
  } catch (err) {
    const text = message(err);
    const missing = /(lib[\w.+-]+\.so[\d.]*|[\w.-]+\.dll): cannot open shared object file|cannot find (\S+)/.exec(text);
    return missing
      ? { kind, loaded: false, file, devices: [], reason: 'missing-library', message: `the ${name} backend ${file} needs ${missing[1] ?? missing[2]}, which is not installed (${text}); see docs/gpu.md` }
      : { kind, loaded: false, file, devices: [], reason: 'not-loadable', message: `the ${name} backend ${file} does not load: ${text}` };
  }
  try {
    host.loader.loadBackend(file);
  } catch (err) {
    return { kind, loaded: false, file, devices: [], reason: 'not-loadable', message: `the ${name} backend ${file} does not load: ${message(err)}` };
  }
  const devices = registered(kind, host);
  if (devices.length > 0) return { kind, loaded: true, file, devices };
  return { kind, loaded: true, file, devices, ...noDeviceReason(kind, host) };
}

/** Parses a device option: 'auto', 'cpu', 'cuda', 'cuda:1', 'vulkan', 'vulkan:0'. */
export function parseDevice(parameter: string, value: unknown): { kind: 'auto' | 'cpu' | GpuKind; index?: number } {
  const match = isString(value) ? /^(auto|cpu|cuda|vulkan)(?::(\d{1,3}))?$/.exec(value.trim().toLowerCase()) : null;
  if (!match || (match[2] !== undefined && (match[1] === 'auto' || match[1] === 'cpu'))) {
    throw invalidParameter(parameter, "'auto', 'cpu', 'cuda', 'cuda:N', 'vulkan' or 'vulkan:N'", value);
  }
  return { kind: match[1] as 'auto' | 'cpu' | GpuKind, index: match[2] === undefined ? undefined : Number(match[2]) };
}

function cpuDevice(host: DeviceHost, requested: string, reason: string): ResolvedDevice {
  const cpu = host.loader.backendDevices().find((d) => d.type === 'cpu');
  return { requested, name: cpu?.name ?? 'CPU', kind: 'cpu', description: cpu?.description ?? 'CPU', reason };
}

/**
 * The device for `device` (default 'auto'): the named GPU or a DeviceUnavailableError with the reason;
 * under 'auto' the first GPU of the first backend that has one, else the CPU with the reasons it was chosen.
 */
export function resolveDevice(value: unknown, host: DeviceHost, env: NodeJS.ProcessEnv = process.env): ResolvedDevice {
  const requested = value === undefined ? 'auto' : value;
  const { kind, index } = parseDevice('device', requested);
  const asked = String(requested);
  if (kind === 'cpu') return cpuDevice(host, asked, 'asked for');
  if (kind === 'auto') {
    const reasons: string[] = [];
    for (const gpu of GPU_KINDS) {
      const status = gpuBackend(gpu, host, env);
      const device = status.devices[0];
      if (device) return { requested: asked, name: device.name, kind: gpu, description: device.description, reason: `the first ${GPU_BACKENDS[gpu].registry} device` };
      reasons.push(`${gpu}: ${status.message}`);
    }
    return cpuDevice(host, asked, `no GPU (${reasons.join('; ')})`);
  }
  const status = gpuBackend(kind, host, env);
  if (status.devices.length === 0) {
    throw new DeviceUnavailableError(asked, status.reason ?? 'no-device', `device '${asked}' is not available: ${status.message}`);
  }
  const device = status.devices[index ?? 0];
  if (!device) {
    throw new DeviceUnavailableError(asked, 'no-such-device', `device '${asked}' is not available: the ${GPU_BACKENDS[kind].registry} backend has ${status.devices.length} device(s) (${status.devices.map((d, i) => `${kind}:${i} ${d.description}`).join(', ')})`);
  }
  return { requested: asked, name: device.name, kind, description: device.description, reason: index === undefined ? `the first ${GPU_BACKENDS[kind].registry} device` : 'asked for' };
}

/** Every GPU backend tried so far or now, with its devices or the reason it has none. */
export function gpuBackends(host: DeviceHost, env: NodeJS.ProcessEnv = process.env): GpuBackendStatus[] {
  return GPU_KINDS.map((kind) => gpuBackend(kind, host, env));
}
