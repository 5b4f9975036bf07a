/** Any method of a client we do not know. */
type Method = (...args: never[]) => unknown;

/** Which methods of a client to replace: a replacement built from the original (bound), or a nested object's spec. */
export interface ProxySpec {
  [property: string]: ((original: Method) => Method) | ProxySpec;
}

/**
 * A proxy of `target` whose methods named in `spec` are replaced and whose other properties are its own. At the top,
 * other methods are bound to the target (a client's private fields need it); below, they are called on the proxy, so
 * that a helper calling a sibling (`messages.stream` calling `this.create`) goes through the replacement.
 */
export function proxyMethods<T extends object>(target: T, spec: ProxySpec, top = true): T {
  // Built once per original, so `client.chat` is the same object each time it is read.
  const made = new Map<PropertyKey, { source: unknown; replacement: unknown }>();
  return new Proxy(target, {
    get(obj, property) {
      const value: unknown = Reflect.get(obj, property);
      const wanted =
        typeof property === 'string' && Object.hasOwn(spec, property) ? spec[property] : undefined;
      if (wanted === undefined || value === null || value === undefined) {
        return top && typeof value === 'function' ? (value as Method).bind(obj) : value;
      }
      const cached = made.get(property);
      if (cached?.source === value) return cached.replacement;
      const replacement =
        typeof wanted === 'function'
          ? typeof value === 'function'
            ? wanted((value as Method).bind(obj))
            : value
          : typeof value === 'object'
            ? proxyMethods(value, wanted, false)
            : value;
      made.set(property, { source: value, replacement });
      return replacement;
    },
  });
}
