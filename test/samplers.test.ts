import { describe, expect, it } from 'vitest';
import { engineInfo, resolveSampler, resolveScheduler, SAMPLERS, SCHEDULERS } from '../src/index.js';

describe('sampler and scheduler names', () => {
  it('lists exactly the engine’s samplers and schedulers', () => {
    const info = engineInfo();
    expect([...SAMPLERS]).toEqual(info.samplers);
    expect([...SCHEDULERS]).toEqual(info.schedulers);
    expect(info.source.release).toBe('stable-diffusion-cpp-python 0.4.7 (PyPI sdist)');
  });

  it.each([
    ['euler_a', { sampler: 'euler_a' }],
    ['Euler a', { sampler: 'euler_a' }],
    ['DPM++ 2M', { sampler: 'dpm++2m' }],
    ['DPM++ 2M Karras', { sampler: 'dpm++2m', scheduler: 'karras' }],
    ['dpm++2s_a', { sampler: 'dpm++2s_a' }],
    ['DPM++ 2S a Karras', { sampler: 'dpm++2s_a', scheduler: 'karras' }],
    ['Euler Exponential', { sampler: 'euler', scheduler: 'exponential' }],
    ['EulerAncestralDiscreteScheduler', { sampler: 'euler_a' }],
    ['DPMSolverMultistepScheduler', { sampler: 'dpm++2m' }],
    ['k_euler_a', { sampler: 'euler_a' }],
    ['k_dpmpp_2m', { sampler: 'dpm++2m' }],
    ['DDIM', { sampler: 'ddim_trailing' }],
    ['LCM', { sampler: 'lcm' }],
  ])('%s', (name, expected) => {
    expect(resolveSampler('sampler', name)).toEqual(expected);
  });

  it('maps A1111 schedule types', () => {
    expect(resolveScheduler('scheduler', 'Karras')).toBe('karras');
    expect(resolveScheduler('scheduler', 'Align Your Steps')).toBe('ays');
    expect(resolveScheduler('scheduler', 'SGM Uniform')).toBe('sgm_uniform');
    expect(resolveScheduler('scheduler', 'Automatic')).toBe('discrete');
  });
});
