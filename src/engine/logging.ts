import { nativeBinding } from './binding.js';
import { oneOf } from '../util/is.js';

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export type LogCallback = (level: LogLevel, message: string) => void;

/** Engine log levels are 0..3 in LOG_LEVELS order. */
export function logLevelFromNative(level: number): LogLevel {
  return LOG_LEVELS[level] ?? 'info';
}

export function logLevelToNative(parameter: string, level: unknown): number {
  return LOG_LEVELS.indexOf(oneOf(parameter, level, LOG_LEVELS));
}

/**
 * Receives engine lines logged outside any Pipeline call (for example by the engine's own loader threads).
 * Lines logged during a call go to that Pipeline's `onLog`. Pass null to stop.
 */
export function setEngineLogger(onLog: LogCallback | null, level: LogLevel = 'info'): void {
  const min = logLevelToNative('level', level);
  nativeBinding().setLogger(onLog ? (l, text) => onLog(logLevelFromNative(l), text) : null, min);
}
