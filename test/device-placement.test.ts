// The load parameters placeOnDevice derives from LoadOptions: here, flash attention's default on this machine's
// CPU (fused attention where diffusekit's CPU attention runs, the engine's choice for Chroma and elsewhere).
import { describe, expect, it } from 'vitest';
import { engineInfo } from '../src/engine/info.js';
import { placeOnDevice } from '../src/pipeline/device-placement.js';

describe('flash attention by default on the CPU', () => {
  const cpu = { device: 'cpu' } as const;

  it('is on where the fused CPU attention runs, else left to the engine', () => {
    const { params } = placeOnDevice(cpu, false, 'sd1');
    expect(params.device).toBe('CPU');
    expect(params.flashAttention).toBe(engineInfo().cpuFusedAttention ? true : undefined);
  });

  it('is left to the engine (off) for Chroma, whose DiT mask the engine does not support with it', () => {
    expect(placeOnDevice(cpu, false, 'chroma').params.flashAttention).toBeUndefined();
  });

  it('follows LoadOptions.flashAttention when given, for every family', () => {
    expect(placeOnDevice({ ...cpu, flashAttention: false }, false, 'sd1').params.flashAttention).toBe(false);
    expect(placeOnDevice({ ...cpu, flashAttention: true }, false, 'chroma').params.flashAttention).toBe(true);
  });
});
