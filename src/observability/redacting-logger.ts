/**
 * The process's Nest logger: ConsoleLogger (text or JSON lines) with every line passed through the secret
 * redactor last, whatever produced it (a message, a serialised error, a stack trace).
 */
import { ConsoleLogger } from '@nestjs/common';
import { redact } from '../common/redaction.js';

export class RedactingConsoleLogger extends ConsoleLogger {
  protected override formatMessage(...args: Parameters<ConsoleLogger['formatMessage']>): string {
    return redact(super.formatMessage(...args));
  }

  protected override stringifyJsonLogObject(logObject: Record<string, unknown>): string {
    return redact(super.stringifyJsonLogObject(logObject));
  }

  /** Nest calls this with `undefined` for errors logged as a plain message. */
  protected override printStackTrace(stack: string | undefined): void {
    if (stack) super.printStackTrace(redact(stack));
  }
}
