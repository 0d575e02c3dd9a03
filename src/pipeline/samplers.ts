import { invalidParameter, isString } from '../util/is.js';

/** Every sampling method of the engine, by its own name. */
export const SAMPLERS = [
  'euler',
  'euler_a',
  'heun',
  'dpm2',
  'dpm++2s_a',
  'dpm++2m',
  'dpm++2mv2',
  'ipndm',
  'ipndm_v',
  'lcm',
  'ddim_trailing',
  'tcd',
  'res_multistep',
  'res_2s',
  'er_sde',
] as const;
export type Sampler = (typeof SAMPLERS)[number];

/** Every noise schedule of the engine, by its own name. */
export const SCHEDULERS = [
  'discrete',
  'karras',
  'exponential',
  'ays',
  'gits',
  'sgm_uniform',
  'simple',
  'smoothstep',
  'kl_optimal',
  'lcm',
  'bong_tangent',
] as const;
export type Scheduler = (typeof SCHEDULERS)[number];

/** The names AUTOMATIC1111 shows (and writes into infotext) for each sampler and schedule. */
export const A1111_SAMPLER_NAMES: Record<Sampler, string> = {
  euler: 'Euler',
  euler_a: 'Euler a',
  heun: 'Heun',
  dpm2: 'DPM2',
  'dpm++2s_a': 'DPM++ 2S a',
  'dpm++2m': 'DPM++ 2M',
  'dpm++2mv2': 'DPM++ 2M v2',
  ipndm: 'iPNDM',
  ipndm_v: 'iPNDM v',
  lcm: 'LCM',
  ddim_trailing: 'DDIM',
  tcd: 'TCD',
  res_multistep: 'Res Multistep',
  res_2s: 'Res 2S',
  er_sde: 'ER SDE',
};

export const A1111_SCHEDULER_NAMES: Record<Scheduler, string> = {
  discrete: 'Normal',
  karras: 'Karras',
  exponential: 'Exponential',
  ays: 'Align Your Steps',
  gits: 'Align Your Steps GITS',
  sgm_uniform: 'SGM Uniform',
  simple: 'Simple',
  smoothstep: 'Smoothstep',
  kl_optimal: 'KL Optimal',
  lcm: 'LCM',
  bong_tangent: 'Bong Tangent',
};

/** Other names clients use: diffusers scheduler classes and the old k-diffusion names. */
const EXTRA_SAMPLER_ALIASES: Record<string, Sampler> = {
  eulerdiscretescheduler: 'euler',
  eulerancestraldiscretescheduler: 'euler_a',
  heundiscretescheduler: 'heun',
  kdpm2discretescheduler: 'dpm2',
  dpmsolvermultistepscheduler: 'dpm++2m',
  lcmscheduler: 'lcm',
  ddimscheduler: 'ddim_trailing',
  tcdscheduler: 'tcd',
  keuler: 'euler',
  keulera: 'euler_a',
  keulerancestral: 'euler_a',
  eulerancestral: 'euler_a',
  kheun: 'heun',
  kdpm2: 'dpm2',
  kdpmpp2sancestral: 'dpm++2s_a',
  kdpmpp2m: 'dpm++2m',
  dpmpp2m: 'dpm++2m',
  dpmpp2sa: 'dpm++2s_a',
  dpmpp2sancestral: 'dpm++2s_a',
  ddim: 'ddim_trailing',
};

const EXTRA_SCHEDULER_ALIASES: Record<string, Scheduler> = {
  normal: 'discrete',
  automatic: 'discrete',
  default: 'discrete',
  alignyoursteps: 'ays',
  alignyourstepsgits: 'gits',
  uniform: 'sgm_uniform',
};

/** Lower case, no spaces, dashes, underscores, dots or pluses ("DPM++ 2M" -> "dpm2m"; "+" reads "pp"). */
function squash(name: string): string {
  return name.toLowerCase().replace(/\+\+/g, 'pp').replace(/[\s_\-.+]/g, '');
}

function aliasTable<T extends string>(canonical: readonly T[], display: Record<T, string>, extra: Record<string, T>): Map<string, T> {
  const table = new Map<string, T>();
  for (const name of canonical) {
    table.set(squash(name), name);
    table.set(squash(display[name]), name);
  }
  for (const [alias, name] of Object.entries(extra)) table.set(squash(alias), name);
  return table;
}

const samplerAliases = aliasTable(SAMPLERS, A1111_SAMPLER_NAMES, EXTRA_SAMPLER_ALIASES);
const schedulerAliases = aliasTable(SCHEDULERS, A1111_SCHEDULER_NAMES, EXTRA_SCHEDULER_ALIASES);

export interface SamplerChoice {
  sampler: Sampler;
  /** Set when the name also chose a schedule, as in A1111's "DPM++ 2M Karras". */
  scheduler?: Scheduler;
}

/**
 * Resolves a sampler name: the engine's own ("dpm++2m"), A1111's ("DPM++ 2M Karras", "Euler a"),
 * diffusers' ("EulerAncestralDiscreteScheduler") or k-diffusion's ("k_euler_a").
 */
export function resolveSampler(parameter: string, name: unknown): SamplerChoice {
  if (!isString(name)) throw invalidParameter(parameter, 'sampler name', name);
  const key = squash(name);
  const direct = samplerAliases.get(key);
  if (direct) return { sampler: direct };
  // A1111 before 1.9 folded the schedule into the sampler name: "<sampler> <schedule>".
  for (const [schedulerKey, scheduler] of schedulerAliases) {
    if (key.endsWith(schedulerKey)) {
      const sampler = samplerAliases.get(key.slice(0, -schedulerKey.length));
      if (sampler) return { sampler, scheduler };
    }
  }
  throw invalidParameter(parameter, `a known sampler (${SAMPLERS.join(', ')}, or an A1111/diffusers name)`, name);
}

export function resolveScheduler(parameter: string, name: unknown): Scheduler {
  const scheduler = isString(name) ? schedulerAliases.get(squash(name)) : undefined;
  if (!scheduler) throw invalidParameter(parameter, `a known scheduler (${SCHEDULERS.join(', ')}, or an A1111 name)`, name);
  return scheduler;
}
