import { describe, expect, it } from 'vitest';
import { engineInfo, WEIGHT_TYPES } from '../src/index.js';
import { resolveServerConfig } from '../src/server/config.js';

describe('engineInfo', () => {
  it('lists only weight types that can be used, not the retired ids of the table', () => {
    const { weightTypes } = engineInfo();
    expect(weightTypes).toEqual(expect.arrayContaining(['f32', 'f16', 'bf16', 'q8_0', 'q4_K']));
    for (const type of weightTypes) expect(type).toMatch(/^[a-z][A-Za-z0-9_]*$/);
    expect(weightTypes.join(' ')).not.toMatch(/DEPRECATED|REMOVED/);
    for (const type of WEIGHT_TYPES) expect(weightTypes).toContain(type);
  });

  it('the server divides the engine\'s physical cores among its workers', () => {
    const { physicalCores } = engineInfo();
    expect(physicalCores).toBeGreaterThanOrEqual(1);
    expect(resolveServerConfig({ workers: 1 }).threads).toBe(physicalCores);
    expect(resolveServerConfig({ workers: 2 }).threads).toBe(Math.max(1, Math.floor(physicalCores / 2)));
    expect(resolveServerConfig({ threads: 3 }).threads).toBe(3);
  });
});
