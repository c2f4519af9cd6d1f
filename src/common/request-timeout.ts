import { InvalidRequestError } from './errors/gateway.error.js';

export const TIMEOUT_HEADER = 'x-gateway-timeout-ms';

/** The client's requested deadline (capped later by the model group's timeout); undefined when absent. */
export function requestedTimeoutMs(value: string | string[] | undefined): number | undefined {
  if (value === undefined) return undefined;
  const text = Array.isArray(value) ? value[0] : value;
  const ms = Number(text);
  if (!Number.isInteger(ms) || ms <= 0) {
    throw new InvalidRequestError(`${TIMEOUT_HEADER} must be a positive integer (milliseconds).`, TIMEOUT_HEADER);
  }
  return ms;
}
