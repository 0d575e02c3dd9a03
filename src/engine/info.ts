import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { CpuVariantReport } from './backends.js';
import { cpuVariantReport, deviceHost, nativeBinding, type NativeDevice, type NativeEngineInfo } from './binding.js';
import { type GpuBackendStatus, gpuBackends } from './devices.js';

export interface EngineInfo extends Omit<NativeEngineInfo, 'version' | 'commit'> {
  /** The pinned engine source this addon was built from (engine.json). */
  source: { name: string; release: string; sha256: string };
  /** The CPU backend variant loaded (a prebuilt addon picks the best for this CPU at run time) and why. */
  cpuVariant: CpuVariantReport;
  /** Every device the engine can run on (name as `device` takes it via its backend, memory in bytes); the CPU last. */
  devices: NativeDevice[];
  /** Each GPU backend: loaded or not, its devices, or why it has none (docs/gpu.md). */
  gpuBackends: GpuBackendStatus[];
}

/** What the loaded addon was built from and for: backend, CPU features, samplers, schedulers, weight types it can use. */
export function engineInfo(): EngineInfo {
  const { version: _v, commit: _c, ...native } = nativeBinding().engineInfo();
  native.weightTypes = native.weightTypes.filter(isUsableWeightType);
  const pin = JSON.parse(fs.readFileSync(fileURLToPath(new URL('../../engine.json', import.meta.url)), 'utf8'));
  const host = deviceHost();
  const backends = gpuBackends(host);
  return { ...native, cpuVariant: cpuVariantReport(), devices: host.loader.backendDevices(), gpuBackends: backends, source: { name: pin.name, release: `${pin.pypi.package} ${pin.pypi.version} (PyPI sdist)`, sha256: pin.pypi.sha256 } };
}

/** ggml keeps retired type ids in its table under names such as 'DEPRECATED' and 'TYPE_Q4_0_4_4 REMOVED, use Q4_0 ...'. */
const isUsableWeightType = (name: string) => /^[a-z][A-Za-z0-9_]*$/.test(name);

/** The engine's count of physical CPU cores (not hardware threads): its default thread count. */
export function physicalCoreCount(): number {
  return Math.max(1, nativeBinding().engineInfo().physicalCores);
}

let directConvolution: boolean | undefined;

/**
 * Whether models should be built with the engine's direct convolution op. On the CPU backend our kernels
 * (native/engine/diffusekit_cpu_conv.cpp) run that op several times faster than the engine's im2col path;
 * without them (no AVX-512, DIFFUSEKIT_CPU_KERNELS=reference, GPU backends) the engine's default is kept.
 */
export function useDirectConvolution(): boolean {
  if (directConvolution === undefined) {
    const info = nativeBinding().engineInfo();
    directConvolution = info.backend === 'cpu' && info.cpuConvKernels;
  }
  return directConvolution;
}

let fusedAttention: boolean | undefined;

/**
 * Whether the CPU backend runs the engine's flash-attention op on our fused kernel
 * (native/engine/diffusekit_cpu_attention.cpp): faster than the engine's unfused attention there and without
 * its score matrices. ggml's own CPU flash attention is several times slower, so without ours it stays off.
 */
export function useFusedCpuAttention(): boolean {
  if (fusedAttention === undefined) fusedAttention = nativeBinding().engineInfo().cpuFusedAttention;
  return fusedAttention;
}
