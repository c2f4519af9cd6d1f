/** Injection tokens AuthModule provides. */
/** The clock budget periods (UTC day and month) are taken from; tests give a fixed one. */
export const BUDGET_CLOCK = Symbol('BUDGET_CLOCK');
