/**
 * Maps keyed by tenant input (dedupe keys naming sessions and parents, customers, models) are objects without a
 * prototype: on a plain object `__proto__` would reach Object.prototype and `toString` would find a function.
 */
export const dict = <T>(): Record<string, T> => Object.create(null) as Record<string, T>;

/** The same entries in a prototype-less object (JSON.parse made them own keys of a plain one, `__proto__` too). */
export const asDict = <T>(o: Record<string, T> | undefined): Record<string, T> => Object.assign(dict<T>(), o);

export function isEmpty(set: Record<string, unknown>): boolean {
  for (const _ in set) return false;
  return true;
}
