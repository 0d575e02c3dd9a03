import type { NativeCacheParams } from '../engine/binding.js';
import { defined, invalidParameter, isPlainObject, numberIn, oneOf } from '../util/is.js';
import { STEP_CACHE_MODES } from './options.js';

/**
 * A call's `cache` option as the engine's cache parameters: the mode's number in sd_cache_mode_t (0 is off,
 * then the modes in STEP_CACHE_MODES order) and the thresholds given; the engine fills the rest per mode.
 */
export function stepCacheParams(parameter: string, value: unknown): NativeCacheParams | undefined {
  if (value === undefined) return undefined;
  if (!isPlainObject(value)) throw invalidParameter(parameter, `{ mode: ${STEP_CACHE_MODES.join(' | ')}, threshold, start, end }`, value);
  const mode = oneOf(`${parameter}.mode`, value.mode, STEP_CACHE_MODES);
  const start = defined(value.start) ? numberIn(`${parameter}.start`, value.start, 0, 1) : undefined;
  const end = defined(value.end) ? numberIn(`${parameter}.end`, value.end, 0, 1) : undefined;
  if (start !== undefined && end !== undefined && start >= end) throw invalidParameter(`${parameter}.start`, `a fraction below ${parameter}.end (${end})`, start);
  return {
    mode: STEP_CACHE_MODES.indexOf(mode) + 1,
    reuseThreshold: defined(value.threshold) ? numberIn(`${parameter}.threshold`, value.threshold, 0, 100) : undefined,
    startPercent: start,
    endPercent: end,
  };
}
