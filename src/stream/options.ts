import { VigilError } from '../errors';

/**
 * Option checks shared by the operators: each throws `VIGIL_E_STREAM_OPTIONS` naming the
 * operator, the option, the value and what is allowed, once, when the operator is built.
 */
function fail(op: string, option: string, value: unknown, allowed: string): never {
  const shown = typeof value === 'function' ? 'a function' : JSON.stringify(value) ?? String(value);
  throw new VigilError('VIGIL_E_STREAM_OPTIONS', `${op}: option "${option}" is ${shown}; ${allowed}`, {
    details: { operator: op, option },
  });
}

export function requireObject(op: string, options: unknown): void {
  if (typeof options !== 'object' || options === null) fail(op, 'options', options, 'expected an options object');
}

export function requireFunction(op: string, option: string, value: unknown): void {
  if (typeof value !== 'function') fail(op, option, value, 'expected a function');
}

/** A finite number ≥ `min` (and an integer when asked). */
export function requireNumber(op: string, option: string, value: unknown, min: number, integer = false): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || (integer && !Number.isInteger(value))) {
    fail(op, option, value, `expected a finite ${integer ? 'integer' : 'number'} >= ${min}`);
  }
  return value;
}

/** Like `requireNumber` but strictly greater than zero. */
export function requirePositive(op: string, option: string, value: unknown, integer = false): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    fail(op, option, value, `expected a finite ${integer ? 'integer' : 'number'} > 0`);
  }
  return value;
}

export function optionalNumber(op: string, option: string, value: unknown, fallback: number, min: number, integer = false): number {
  return value === undefined ? fallback : requireNumber(op, option, value, min, integer);
}

export function requireOneOf<V extends string>(op: string, option: string, value: unknown, allowed: readonly V[]): V {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    fail(op, option, value, `expected one of ${allowed.map((a) => `"${a}"`).join(', ')}`);
  }
  return value as V;
}

export function invalid(op: string, option: string, value: unknown, allowed: string): never {
  return fail(op, option, value, allowed);
}
