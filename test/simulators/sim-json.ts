/**
 * A typed view of parsed JSON, shared by the simulators and their specs. `JSON.parse`, `Response.json()` and
 * `Array.isArray` hand out `any`, which lets a typo or a wrong shape through silently; these keep a parsed value
 * `unknown` until a guard narrows it.
 */

/** A parsed JSON object whose members are still unchecked. */
export type Json = Record<string, unknown>;

/** One step into parsed JSON: a member name for objects, an index for arrays (negative counts from the end). */
export type JsonStep = string | number;

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

/** The value at `path`, or undefined where the path leaves the parsed JSON. */
export function at(value: unknown, ...path: JsonStep[]): unknown {
  let node = value;
  for (const step of path) {
    if (typeof step === 'number') node = isArray(node) ? node.at(step) : undefined;
    else node = isObject(node) && Object.hasOwn(node, step) ? node[step] : undefined;
  }
  return node;
}

// The `…At` readers below are for specs: a value of another kind is a failed expectation, so they throw and name
// the path and what was found there.

export function objectAt(value: unknown, ...path: JsonStep[]): Json {
  const found = at(value, ...path);
  if (!isObject(found)) throw unexpected('an object', found, path);
  return found;
}

export function arrayAt(value: unknown, ...path: JsonStep[]): unknown[] {
  const found = at(value, ...path);
  if (!isArray(found)) throw unexpected('an array', found, path);
  return found;
}

export function stringAt(value: unknown, ...path: JsonStep[]): string {
  const found = at(value, ...path);
  if (typeof found !== 'string') throw unexpected('a string', found, path);
  return found;
}

export function numberAt(value: unknown, ...path: JsonStep[]): number {
  const found = at(value, ...path);
  if (typeof found !== 'number') throw unexpected('a number', found, path);
  return found;
}

/** The body of a fetch response, which the spec expects to be a JSON object. */
export async function jsonOf(response: Response): Promise<Json> {
  return objectAt(await response.json());
}

/** An array of numbers, such as an embedding. */
export function numbersAt(value: unknown, ...path: JsonStep[]): number[] {
  return arrayAt(value, ...path).map((_, index) => numberAt(value, ...path, index));
}

function unexpected(kind: string, found: unknown, path: JsonStep[]): TypeError {
  const where = path.length === 0 ? 'the value' : path.join('.');
  return new TypeError(`expected ${kind} at ${where}, found ${JSON.stringify(found) ?? 'undefined'}`);
}
