import type { ValidationError } from 'class-validator';

/** Flattens class-validator's error tree into `path: problem` lines, e.g. `providers[0].baseUrl: ...`. */
export function formatValidationErrors(errors: ValidationError[], prefix = ''): string[] {
  const lines: string[] = [];
  for (const error of errors) {
    const key = /^\d+$/.test(error.property) ? `[${error.property}]` : error.property;
    const path = prefix === '' ? key : key.startsWith('[') ? `${prefix}${key}` : `${prefix}.${key}`;
    for (const message of Object.values(error.constraints ?? {})) lines.push(`${path}: ${message}`);
    if (error.children?.length) lines.push(...formatValidationErrors(error.children, path));
  }
  return lines;
}
