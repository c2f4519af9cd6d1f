/**
 * What the config file may contain, read from the config classes themselves: every field has a class-validator
 * decorator (so its name is known), nested sections are declared with `Nested` / `NestedArray` / `NestedMap`
 * (which also tell class-transformer what to build), and TypeScript's emitted `design:type` says which fields are
 * numbers and booleans. `checkDocument` walks the raw document against it before validation:
 * - an unknown key at any level is refused with its path and the closest known name;
 * - a boolean field takes only a YAML boolean (`"false"`, `no`, `off` are refused, not read as true);
 * - a number field takes a number or a numeric string (a `${VAR}` substitution is always a string) and the
 *   string becomes the number; anything else is one clear problem, not three.
 * Fields typed as plain objects (`headers`, provider `options`) are free-form here: their owner checks them (a
 * provider type's options class is walked the same way, see config-loader.ts).
 */
import 'reflect-metadata';
import { Type } from 'class-transformer';
import { getMetadataStorage, ValidateNested } from 'class-validator';

type Constructor = new () => object;

interface NestedField {
  kind: 'nested' | 'array' | 'map';
  of: () => Constructor;
}

const NESTED_FIELDS = Symbol('configNestedFields');

function recordNested(target: object, property: string, field: NestedField): void {
  const fields = (Reflect.getOwnMetadata(NESTED_FIELDS, target) as Map<string, NestedField> | undefined) ?? new Map();
  fields.set(property, field);
  Reflect.defineMetadata(NESTED_FIELDS, fields, target);
}

/** A nested section: validated and built as `of`. */
export function Nested(of: () => Constructor): PropertyDecorator {
  return (target, property) => {
    ValidateNested()(target, property);
    Type(of)(target, property);
    recordNested(target, String(property), { kind: 'nested', of });
  };
}

/** A list of nested sections, each validated and built as `of`. */
export function NestedArray(of: () => Constructor): PropertyDecorator {
  return (target, property) => {
    ValidateNested({ each: true })(target, property);
    Type(of)(target, property);
    recordNested(target, String(property), { kind: 'array', of });
  };
}

/** A map of free names to sections of `of` (its own decorators validate and build it). */
export function NestedMap(of: () => Constructor): PropertyDecorator {
  return (target, property) => recordNested(target, String(property), { kind: 'map', of });
}

interface FieldSchema {
  nested: NestedField | undefined;
  type: unknown;
}

const schemas = new WeakMap<Constructor, Map<string, FieldSchema>>();

/** The known fields of a config class (its parents' included). */
export function fieldsOf(cls: Constructor): Map<string, FieldSchema> {
  const cached = schemas.get(cls);
  if (cached) return cached;
  const fields = new Map<string, FieldSchema>();
  const names = new Set(
    getMetadataStorage()
      .getTargetValidationMetadatas(cls, '', true, false)
      .map((metadata) => metadata.propertyName),
  );
  for (let proto: object | null = cls.prototype as object; proto && proto !== Object.prototype;) {
    const nested = Reflect.getOwnMetadata(NESTED_FIELDS, proto) as Map<string, NestedField> | undefined;
    for (const name of nested?.keys() ?? []) names.add(name);
    proto = Object.getPrototypeOf(proto) as object | null;
  }
  for (const name of names) {
    let nested: NestedField | undefined;
    for (let proto: object | null = cls.prototype as object; proto && !nested;) {
      nested = (Reflect.getOwnMetadata(NESTED_FIELDS, proto) as Map<string, NestedField> | undefined)?.get(name);
      proto = Object.getPrototypeOf(proto) as object | null;
    }
    fields.set(name, { nested, type: Reflect.getMetadata('design:type', cls.prototype as object, name) });
  }
  schemas.set(cls, fields);
  return fields;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

const NUMERIC = /^[+-]?(\d+(\.\d*)?|\.\d+)(e[+-]?\d+)?$/i;

function describeValue(value: unknown): string {
  if (typeof value === 'string') return `'${value.length > 40 ? `${value.slice(0, 40)}…` : value}'`;
  return JSON.stringify(value) ?? String(value);
}

/** Edit distance, for "did you mean": small names, so the quadratic table is fine. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length];
}

/** The known name a mistyped key most likely meant: same letters in another case or spelling, or a near miss. */
export function closestName(key: string, known: Iterable<string>): string | undefined {
  const squash = (name: string) => name.toLowerCase().replace(/[-_]/g, '');
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const name of known) {
    if (squash(name) === squash(key)) return name;
    const d = distance(key.toLowerCase(), name.toLowerCase());
    if (d < bestDistance) {
      bestDistance = d;
      best = name;
    }
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(key.length / 3)) ? best : undefined;
}

/**
 * Checks `document` against `cls` in place (numeric strings of number fields become numbers) and returns one
 * `path: problem` line per problem. `path` is the document's own path ('' at the root).
 */
export function checkDocument(document: unknown, cls: Constructor, path = ''): string[] {
  const problems: string[] = [];
  walk(document, cls, path, problems);
  return problems;
}

function walk(value: unknown, cls: Constructor, path: string, problems: string[]): void {
  if (!isPlainObject(value)) return; // the validation reports a section of the wrong type
  const fields = fieldsOf(cls);
  for (const key of Object.keys(value)) {
    const at = path === '' ? key : `${path}.${key}`;
    const field = fields.get(key);
    if (!field) {
      const suggestion = closestName(key, fields.keys());
      problems.push(`${at}: unknown field${suggestion ? ` (did you mean ${suggestion}?)` : ''}`);
      continue;
    }
    const child = value[key];
    if (field.nested) {
      const of = field.nested.of();
      if (field.nested.kind === 'nested') walk(child, of, at, problems);
      else if (field.nested.kind === 'array' && Array.isArray(child)) {
        child.forEach((item, i) => walk(item, of, `${at}[${i}]`, problems));
      } else if (field.nested.kind === 'map' && isPlainObject(child)) {
        for (const name of Object.keys(child)) walk(child[name], of, `${at}.${name}`, problems);
      }
      continue;
    }
    if (child === undefined || child === null) continue;
    if (field.type === Boolean && typeof child !== 'boolean') {
      problems.push(`${at}: must be true or false (a YAML boolean), got ${describeValue(child)}`);
    } else if (field.type === Number && typeof child !== 'number') {
      if (typeof child === 'string' && NUMERIC.test(child.trim())) value[key] = Number(child.trim());
      else problems.push(`${at}: must be a number, got ${describeValue(child)}`);
    }
  }
}
