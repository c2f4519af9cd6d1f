/** Injection tokens RoutingModule provides; tests give the router a fake clock and random source through them. */
export const RANDOM_SOURCE = Symbol('RANDOM_SOURCE');
export const CLOCK = Symbol('CLOCK');
