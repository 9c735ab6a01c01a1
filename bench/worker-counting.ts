/**
 * Counting Durable Object calls in a bench worker: an `env` whose namespaces hand out stubs that
 * report every method call. Locally all objects of a worker share its isolate, so one table in
 * module scope sees the calls of the Worker and of every wrapped object. (Bench workers import
 * it, hence the `worker-` prefix: it is typechecked with the Workers types.)
 */

/** Called once per call through a stub: the binding, and the method (a routed call reports the keyspace method it runs). */
export type CallCounter = (binding: string, method: string) => void;

const wrapped = new WeakMap<object, WeakMap<CallCounter, object>>();

function countingStub(binding: string, stub: object, count: CallCounter): object {
  return new Proxy(stub, {
    get(target, method) {
      const fn = Reflect.get(target, method, target) as unknown;
      if (typeof method !== "string" || typeof fn !== "function") return fn;
      return (...args: unknown[]) => {
        // ShardRouter calls `routedCall(keyspace, shard, key, version, method, ...args)`.
        count(binding, method === "routedCall" && typeof args[4] === "string" ? args[4] : method);
        return Reflect.apply(fn as (...a: unknown[]) => unknown, target, args);
      };
    },
  });
}

/** `env` with every Durable Object namespace handing out counting stubs (one wrapper per env and counter). */
export function countingEnv<E extends object>(env: E, count: CallCounter): E {
  const cached = wrapped.get(env)?.get(count);
  if (cached) return cached as E;
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(env)) {
    const ns = value as DurableObjectNamespace;
    if (typeof value !== "object" || value === null || typeof ns.getByName !== "function") {
      out[name] = value;
      continue;
    }
    out[name] = new Proxy(ns, {
      get(target, prop) {
        if (prop === "getByName") return (id: string, options?: DurableObjectNamespaceGetDurableObjectOptions) => countingStub(name, target.getByName(id, options), count);
        if (prop === "get") return (id: DurableObjectId, options?: DurableObjectNamespaceGetDurableObjectOptions) => countingStub(name, target.get(id, options), count);
        const v = Reflect.get(target, prop, target) as unknown;
        return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  }
  if (!wrapped.has(env)) wrapped.set(env, new WeakMap());
  wrapped.get(env)!.set(count, out);
  return out as E;
}
