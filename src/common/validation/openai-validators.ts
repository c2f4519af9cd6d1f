/**
 * Checks for the OpenAI request fields whose type is a union: message content (used by the chat request
 * validator) and embedding input (a class-validator constraint: the decorators alone cannot express "a string or
 * an array of tokens").
 */
import { registerDecorator, type ValidationArguments, type ValidationOptions } from 'class-validator';

const PARTS_BY_ROLE: Record<string, ReadonlySet<string>> = {
  system: new Set(['text']),
  developer: new Set(['text']),
  tool: new Set(['text']),
  function: new Set(['text']),
  user: new Set(['text', 'image_url', 'input_audio', 'file']),
  assistant: new Set(['text', 'refusal']),
};

/** Returns why a content part is invalid, or undefined. */
function partProblem(part: unknown, allowed: ReadonlySet<string>): string | undefined {
  if (part === null || typeof part !== 'object') return 'each content part must be an object';
  const { type } = part as { type?: unknown };
  if (typeof type !== 'string' || !allowed.has(type)) {
    return `content part type must be one of: ${[...allowed].join(', ')}`;
  }
  const p = part as Record<string, unknown>;
  switch (type) {
    case 'text':
      return typeof p.text === 'string' ? undefined : "a 'text' part needs a string 'text'";
    case 'refusal':
      return typeof p.refusal === 'string' ? undefined : "a 'refusal' part needs a string 'refusal'";
    case 'image_url': {
      const image = p.image_url as { url?: unknown; detail?: unknown } | undefined;
      if (!image || typeof image.url !== 'string' || image.url === '') return "an 'image_url' part needs image_url.url";
      if (image.detail !== undefined && !['auto', 'low', 'high', 'original'].includes(image.detail as string)) {
        return 'image_url.detail must be auto, low, high or original';
      }
      return undefined;
    }
    case 'input_audio': {
      const audio = p.input_audio as { data?: unknown; format?: unknown } | undefined;
      return audio && typeof audio.data === 'string' && typeof audio.format === 'string'
        ? undefined
        : "an 'input_audio' part needs input_audio.data and input_audio.format";
    }
    case 'file':
      return p.file !== null && typeof p.file === 'object' ? undefined : "a 'file' part needs a 'file' object";
    default:
      return undefined;
  }
}

export function messageContentProblem(content: unknown, role: unknown): string | undefined {
  if (typeof content === 'string') return undefined;
  if (content === null || content === undefined) {
    return role === 'assistant' ? undefined : 'content is required';
  }
  if (!Array.isArray(content)) return 'content must be a string or an array of content parts';
  if (content.length === 0 && role !== 'assistant') return 'content must not be an empty array';
  const allowed = PARTS_BY_ROLE[role as string] ?? PARTS_BY_ROLE.user;
  for (const part of content) {
    const problem = partProblem(part, allowed);
    if (problem) return problem;
  }
  return undefined;
}

function constraint(
  name: string,
  check: (value: unknown, args: ValidationArguments) => string | undefined,
  options?: ValidationOptions,
) {
  return (object: object, propertyName: string) => {
    let lastProblem = '';
    registerDecorator({
      name,
      target: object.constructor,
      propertyName,
      options,
      validator: {
        validate(value: unknown, args: ValidationArguments) {
          const problem = check(value, args);
          lastProblem = problem ?? '';
          return problem === undefined;
        },
        defaultMessage: () => lastProblem,
      },
    });
  };
}

/** Embedding `input`: a string, strings, a token array or token arrays; never empty. */
export const IsEmbeddingInput = (options?: ValidationOptions) =>
  constraint(
    'isEmbeddingInput',
    (value) => {
      const isTokens = (v: unknown) => Array.isArray(v) && v.length > 0 && v.every((n) => Number.isInteger(n));
      if (typeof value === 'string' && value !== '') return undefined;
      if (Array.isArray(value) && value.length > 0) {
        if (value.every((v) => typeof v === 'string' && v !== '')) return undefined;
        if (value.every((v) => Number.isInteger(v))) return undefined;
        if (value.every(isTokens)) return undefined;
      }
      return 'input must be a non-empty string, array of strings, array of tokens or array of token arrays';
    },
    options,
  );
