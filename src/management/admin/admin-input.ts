/**
 * Admin API input: a body or query string is checked against its DTO class the way the config file is (unknown
 * fields refused with the closest known name, booleans only as booleans, numbers also from numeric strings — which
 * is what a query string carries), then validated by class-validator. The first problem becomes a 400 in OpenAI's
 * format whose `param` names the field (`budget.usdPerDay`, `models[1]`).
 */
import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { GatewayError, InvalidRequestError } from '../../common/errors/gateway.error.js';
import { formatValidationErrors } from '../../common/validation/format-errors.js';
import { checkDocument } from '../../config/config-schema.js';

type Constructor<T> = new () => T;

export function parseInput<T extends object>(cls: Constructor<T>, input: unknown, what = 'body'): T {
  if (input === undefined && what === 'query') input = {};
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new InvalidRequestError(`The request ${what} must be a JSON object.`, null, 'invalid_json');
  }
  const document = { ...(input as Record<string, unknown>) };
  const problems = checkDocument(document, cls);
  if (problems.length === 0) {
    const instance = plainToInstance(cls, document, { exposeDefaultValues: true });
    problems.push(...formatValidationErrors(validateSync(instance, { forbidUnknownValues: false })));
    if (problems.length === 0) return instance;
  }
  throw invalidField(problems[0]);
}

/** A `path: problem` line as the 400 that names the field. */
export function invalidField(problem: string): InvalidRequestError {
  const separator = problem.indexOf(': ');
  const param = problem.slice(0, separator);
  return new InvalidRequestError(
    `Invalid value for '${param}': ${problem.slice(separator + 2)}`,
    param,
    'invalid_value',
  );
}

export class ConflictError extends GatewayError {
  constructor(message: string, code: string, param: string | null = null) {
    super(409, 'invalid_request_error', message, { code, param });
  }
}
