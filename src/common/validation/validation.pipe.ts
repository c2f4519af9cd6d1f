/**
 * The global validation pipe: class-validator DTOs, run synchronously on a transformed copy, handing the
 * handler the client's own object so unknown fields survive (they are forwarded to OpenAI-compatible
 * upstreams). The first failure becomes a 400 with `param` naming the field, as OpenAI reports it.
 *
 * Leaner than Nest's ValidationPipe on the hot path (no prototype-key stripping — Fastify's JSON parser
 * already rejects `__proto__` —, no binary-value scan, no async validation round trip), which the profile
 * showed costing more than the validation itself.
 */
import { type ArgumentMetadata, Injectable, type PipeTransform } from '@nestjs/common';
import { plainToInstance } from 'class-transformer';
import { type ValidationError, validateSync, type ValidatorOptions } from 'class-validator';
import { InvalidRequestError } from '../errors/gateway.error.js';
import { formatValidationErrors } from './format-errors.js';

const VALIDATOR_OPTIONS: ValidatorOptions = {
  forbidUnknownValues: false,
  stopAtFirstError: true,
  validationError: { target: false, value: false },
};

export function firstValidationProblem(errors: ValidationError[]): { param: string; message: string } {
  const [line = 'body: invalid request'] = formatValidationErrors(errors);
  const separator = line.indexOf(': ');
  return { param: line.slice(0, separator), message: line.slice(separator + 2) };
}

@Injectable()
export class OpenAiValidationPipe implements PipeTransform {
  transform(value: unknown, metadata: ArgumentMetadata): unknown {
    const metatype = metadata.metatype;
    if (metadata.type !== 'body' || !metatype || metatype === Object) return value;
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new InvalidRequestError('The request body must be a JSON object.', null, 'invalid_json');
    }
    const errors = validateSync(
      plainToInstance<object, object>(metatype as new () => object, value),
      VALIDATOR_OPTIONS,
    );
    if (errors.length > 0) {
      const { param, message } = firstValidationProblem(errors);
      throw new InvalidRequestError(`Invalid value for '${param}': ${message}`, param, 'invalid_value');
    }
    return value;
  }
}
