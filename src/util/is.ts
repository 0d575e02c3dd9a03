import { InvalidArgumentError } from '../errors.js';

// One validation vocabulary for every public entry point: predicates plus one error wording,
// "Expected <what> for <parameter> but received <value> of type <type>".

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'function') return 'a function';
  if (value !== null && typeof value === 'object') return Array.isArray(value) ? 'an array' : 'an object';
  return String(value);
}

export function invalidParameter(parameter: string, expected: string, value: unknown): InvalidArgumentError {
  return new InvalidArgumentError(
    parameter,
    `Expected ${expected} for ${parameter} but received ${describe(value)} of type ${value === null ? 'null' : typeof value}`,
  );
}

export const defined = (v: unknown): boolean => v !== undefined && v !== null;
export const isString = (v: unknown): v is string => typeof v === 'string';
export const isBoolean = (v: unknown): v is boolean => typeof v === 'boolean';
export const isFunction = (v: unknown): v is (...args: never[]) => unknown => typeof v === 'function';
export const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
export const isInteger = (v: unknown): v is number => Number.isInteger(v);
export const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype;
export const inRange = (v: number, min: number, max: number): boolean => v >= min && v <= max;

/** An integer in [min, max], or the default when undefined. */
export function integerIn(parameter: string, value: unknown, min: number, max: number, fallback?: number): number {
  if (value === undefined && fallback !== undefined) return fallback;
  if (!isInteger(value) || !inRange(value, min, max)) throw invalidParameter(parameter, `integer between ${min} and ${max}`, value);
  return value;
}

/** A finite number in [min, max], or the default when undefined. */
export function numberIn(parameter: string, value: unknown, min: number, max: number, fallback?: number): number {
  if (value === undefined && fallback !== undefined) return fallback;
  if (!isNumber(value) || !inRange(value, min, max)) throw invalidParameter(parameter, `number between ${min} and ${max}`, value);
  return value;
}

export function optionalString(parameter: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (!isString(value)) throw invalidParameter(parameter, 'string', value);
  return value;
}

export function optionalBoolean(parameter: string, value: unknown): boolean | undefined {
  if (value === undefined) return undefined;
  if (!isBoolean(value)) throw invalidParameter(parameter, 'boolean', value);
  return value;
}

export function oneOf<T extends string>(parameter: string, value: unknown, allowed: readonly T[]): T {
  if (!isString(value) || !allowed.includes(value as T)) throw invalidParameter(parameter, `one of ${allowed.join(', ')}`, value);
  return value as T;
}

export function optionalFunction<F>(parameter: string, value: unknown): F | undefined {
  if (value === undefined) return undefined;
  if (!isFunction(value)) throw invalidParameter(parameter, 'function', value);
  return value as F;
}

export function optionalSignal(parameter: string, value: unknown): AbortSignal | undefined {
  if (value === undefined) return undefined;
  if (!(value instanceof AbortSignal)) throw invalidParameter(parameter, 'AbortSignal', value);
  return value;
}
