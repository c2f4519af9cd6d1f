/**
 * The global validation pipe. It validates a transformed copy and hands the handler the client's own object,
 * so unknown fields survive (they are forwarded to OpenAI-compatible upstreams). The first failure becomes a
 * 400 with `param` naming the field, as OpenAI reports it.
 */
import { type ArgumentMetadata, ValidationPipe } from '@nestjs/common';
import type { ValidationError } from 'class-validator';
import { InvalidRequestError } from '../errors/gateway.error.js';
import { formatValidationErrors } from './format-errors.js';

export function firstValidationProblem(errors: ValidationError[]): { param: string; message: string } {
  const [line = 'body: invalid request'] = formatValidationErrors(errors);
  const separator = line.indexOf(': ');
  return { param: line.slice(0, separator), message: line.slice(separator + 2) };
}

/** Also rejects bodies that are valid JSON but not an object (an array, a string), which DTOs cannot describe. */
class OpenAiValidationPipe extends ValidationPipe {
  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    if (metadata.type === 'body' && (value === null || typeof value !== 'object' || Array.isArray(value))) {
      throw new InvalidRequestError('The request body must be a JSON object.', null, 'invalid_json');
    }
    return super.transform(value, metadata);
  }
}

export function openAiValidationPipe(): ValidationPipe {
  return new OpenAiValidationPipe({
    transform: false,
    whitelist: false,
    forbidUnknownValues: false,
    stopAtFirstError: true,
    validationError: { target: false, value: false },
    exceptionFactory: (errors) => {
      const { param, message } = firstValidationProblem(errors);
      return new InvalidRequestError(`Invalid value for '${param}': ${message}`, param, 'invalid_value');
    },
  });
}
