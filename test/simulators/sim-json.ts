/**
 * A typed view of parsed JSON, shared by the simulators and their specs. `JSON.parse`, `Response.json()` and
 * `Array.isArray` hand out `any`, which lets a typo or a wrong shape through silently; these keep a parsed value
 * `unknown` until a guard narrows it.
 */

/** A parsed JSON object whose members are still unchecked. */
export type Json = Record<string, unknown>;

export function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `Array.isArray` without the `any[]` it narrows to. */
export function isArray(value: unknown): value is unknown[] {
  return Array.isArray(value);
}

/** The array, or no elements when the value is not one. */
export function asArray(value: unknown): unknown[] {
  return isArray(value) ? value : [];
}

export function asString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/**
 * A value as the simulators quote it in texts and counts: a string as it is, anything else as its JSON. For the
 * primitives a parsed body holds this is what `String` gives; objects and arrays show their content instead of
 * `[object Object]`.
 */
export function textOf(value: unknown): string {
  return typeof value === 'string' ? value : (JSON.stringify(value) ?? 'null');
}
