import { deviceHost, type NativeLoadParams } from '../engine/binding.js';
import { resolveDevice, type ResolvedDevice } from '../engine/devices.js';
import { useFusedCpuAttention } from '../engine/info.js';
import { numberIn, optionalBoolean } from '../util/is.js';
import type { LoadOptions } from './options.js';

/** Which device each component of a Pipeline runs on (the engine's device names: 'CUDA0', 'CPU'). */
export interface ComponentPlacement {
  diffusionModel: string;
  textEncoders: string;
  vae: string;
  /** Only with a ControlNet loaded. */
  controlNet?: string;
}

/** The device a Pipeline runs on and what that means for the load parameters (docs/gpu.md). */
export interface DevicePlacement {
  device: ResolvedDevice;
  placement: ComponentPlacement;
  params: Pick<NativeLoadParams, 'device' | 'flashAttention' | 'batchCfg' | 'offloadToCpu' | 'clipOnCpu' | 'vaeOnCpu' | 'controlNetOnCpu' | 'maxVram'>;
  /** Said through onLog before the load (why the CPU, when a GPU was not found under 'auto'). */
  logLine: string;
}

/**
 * Resolves `device` and the GPU memory controls of LoadOptions. Flash attention defaults to on for a GPU
 * (faster there and smaller) and on the CPU where our fused CPU attention runs it, else to the engine's choice,
 * and to the engine's choice for Chroma, whose DiT mask the engine does not support with it (it warns that
 * images may break); batched guidance stays off unless asked. The engine places text encoders, VAE and
 * ControlNet on the CPU exactly when asked to, else on the main device, which is what `placement` reports.
 */
export function placeOnDevice(options: LoadOptions, hasControlNet: boolean, family?: string): DevicePlacement {
  const offloadToCpu = optionalBoolean('offloadToCpu', options.offloadToCpu);
  const clipOnCpu = optionalBoolean('textEncodersOnCpu', options.textEncodersOnCpu);
  const vaeOnCpu = optionalBoolean('vaeOnCpu', options.vaeOnCpu);
  const controlNetOnCpu = optionalBoolean('controlNetOnCpu', options.controlNetOnCpu);
  const maxVram = options.maxVram === undefined ? undefined : numberIn('maxVram', options.maxVram, 0, 1 << 20);
  const flash = optionalBoolean('flashAttention', options.flashAttention);
  const batchCfg = optionalBoolean('batchCfg', options.batchCfg);
  const host = deviceHost();
  const device = resolveDevice(options.device, host);
  const cpuName = host.loader.backendDevices().find((d) => d.type === 'cpu')?.name ?? 'CPU';
  const on = (keepOnCpu: boolean | undefined) => (keepOnCpu ? cpuName : device.name);
  const placement: ComponentPlacement = { diffusionModel: device.name, textEncoders: on(clipOnCpu), vae: on(vaeOnCpu) };
  if (hasControlNet) placement.controlNet = on(controlNetOnCpu);
  return {
    device,
    placement,
    params: {
      device: device.name,
      flashAttention: flash ?? (family === 'chroma' ? undefined : device.kind === 'cpu' ? (useFusedCpuAttention() || undefined) : true),
      batchCfg: batchCfg ?? false,
      offloadToCpu, clipOnCpu, vaeOnCpu, controlNetOnCpu, maxVram,
    },
    logLine: `diffusekit: device ${device.requested}: running on ${device.name} (${device.description}): ${device.kind === 'cpu' && device.requested !== 'cpu' ? `${device.reason}; running on the CPU` : device.reason}`,
  };
}
