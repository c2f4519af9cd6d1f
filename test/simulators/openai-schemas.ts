/**
 * Validators for OpenAI's official schemas (test/fixtures/openai-schemas.json, the closure of openai/openai-openapi),
 * for the simulator specs. The document is OpenAPI 3.1 (JSON Schema 2020-12) with a few 3.0 leftovers: `nullable`
 * (null is allowed too) is rewritten as an anyOf with null, `discriminator` is an annotation only.
 */
import { readFileSync } from 'node:fs';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';

// A copy of shared/spec/openai-schemas.json, so the suite needs nothing outside the repository.
const SCHEMAS_URL = new URL('../../../test/fixtures/openai-schemas.json', import.meta.url);
const DOCUMENT_ID = 'https://openai.simulator/openai-schemas.json';

// ajv-formats is CommonJS; under NodeNext its default export arrives as the module object.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (
  ajv: Ajv2020,
) => Ajv2020;

let ajv: Ajv2020 | undefined;
const validators = new Map<string, ValidateFunction>();

function withNullable(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(withNullable);
  if (typeof node !== 'object' || node === null) return node;
  const entries = Object.entries(node as Record<string, unknown>).map(([key, value]) => [key, withNullable(value)]);
  const rewritten = Object.fromEntries(entries) as Record<string, unknown>;
  if (rewritten.nullable !== true) return rewritten;
  const { nullable: _nullable, ...rest } = rewritten;
  return { anyOf: [rest, { type: 'null' }] };
}

function compiler(): Ajv2020 {
  if (!ajv) {
    const document = withNullable(JSON.parse(readFileSync(SCHEMAS_URL, 'utf8'))) as Record<string, unknown>;
    ajv = new Ajv2020({ allErrors: true, strict: false, validateFormats: true });
    addFormats(ajv);
    ajv.addFormat('unixtime', true);
    ajv.addFormat('float', true);
    ajv.addSchema({ ...document, $id: DOCUMENT_ID });
  }
  return ajv;
}

/** A validator for `#/components/schemas/<name>`, e.g. `Response` or `ResponseStreamEvent`. */
export function openAiSchema(name: string): ValidateFunction {
  let validate = validators.get(name);
  if (!validate) {
    validate = compiler().compile({ $ref: `${DOCUMENT_ID}#/components/schemas/${name}` });
    validators.set(name, validate);
  }
  return validate;
}

/** The schema's errors for `value`, as text; empty when it is valid. */
export function schemaErrors(name: string, value: unknown): string {
  const validate = openAiSchema(name);
  if (validate(value)) return '';
  return compiler().errorsText(validate.errors, { separator: '\n' });
}
