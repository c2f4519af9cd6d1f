/** Injection token for the validated gateway configuration. */
export const GATEWAY_CONFIG = Symbol('GATEWAY_CONFIG');
