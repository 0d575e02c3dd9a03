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

describe('gguf weight types the engine lists', () => {
  it('are named and sized by the inspector (i-quants, ternary and fp4 included)', async () => {
    const { inspectModelFile } = await import('../src/index.js');
    const { writeGguf } = await import('./helpers/gguf.js');
    const { tempDir } = await import('./helpers/models.js');
    const path = await import('node:path');
    // 1024 elements each: bytes = 1024 / elements-per-block * bytes-per-block.
    const layouts = { iq4_nl: [20, 32, 18], iq2_xxs: [16, 256, 66], iq4_xs: [23, 256, 136], iq1_m: [29, 256, 56], tq2_0: [35, 256, 66], mxfp4: [39, 32, 17] } as const;
    const file = path.join(tempDir(), 'quants.gguf');
    writeGguf(file, Object.entries(layouts).map(([name, [id, block, bytes]]) => ({ name, shape: [1024], type: { id, bytes: (1024 / block) * bytes } })));
    const info = await inspectModelFile(file);
    for (const [name, [, block, bytes]] of Object.entries(layouts)) {
      expect(info.types!.get(name)).toBe(name);
      expect(info.weightBytes!.get(name)).toBe((1024 / block) * bytes);
      expect(engineInfo().weightTypes).toContain(name);
    }
  });
});
