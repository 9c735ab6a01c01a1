/**
 * Worker of bench:realtime: the real server, with
 *  - `/__bench/gateway/<n>` (WebSocket upgrade) going straight to `gateway:<n>`, so the bench
 *    chooses same-gateway or cross-gateway placement (production picks a gateway at random);
 *  - every Durable Object call made by the Worker and by the Gateway and CodeRegistry objects
 *    counted per binding and method (routed calls by the keyspace method they run), read and
 *    reset through `/__bench/counters`. Locally all objects of the worker share its isolate, so
 *    one module-scope table sees them all.
 */
import server, { CodeRegistry as ServerCodeRegistry, Gateway as ServerGateway } from "../../apps/zajel-server/src/index.js";
import type { Env } from "../../apps/zajel-server/src/env.js";

// Every Durable Object class of the server; Gateway and CodeRegistry are replaced below (a local
// export takes precedence over `export *`).
export * from "../../apps/zajel-server/src/index.js";

const calls: Record<string, number> = {};

function count(key: string): void {
  calls[key] = (calls[key] ?? 0) + 1;
}

/** A stub whose method calls are counted as `<binding>.<method>`. */
function countingStub(binding: string, stub: object): object {
  return new Proxy(stub, {
    get(target, method) {
      const fn = Reflect.get(target, method, target) as unknown;
      if (typeof method !== "string" || typeof fn !== "function") return fn;
      return (...args: unknown[]) => {
        // ShardRouter calls `routedCall(keyspace, shard, key, version, method, ...args)`.
        count(`${binding}.${method === "routedCall" && typeof args[4] === "string" ? args[4] : method}`);
        return Reflect.apply(fn as (...a: unknown[]) => unknown, target, args);
      };
    },
  });
}

const wrapped = new WeakMap<object, Env>();

/** `env` with every Durable Object namespace handing out counting stubs. */
function counting(env: Env): Env {
  const cached = wrapped.get(env);
  if (cached) return cached;
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(env)) {
    const ns = value as DurableObjectNamespace;
    if (typeof value !== "object" || value === null || typeof ns.getByName !== "function") {
      out[name] = value;
      continue;
    }
    out[name] = new Proxy(ns, {
      get(target, prop) {
        if (prop === "getByName") return (id: string, options?: DurableObjectNamespaceGetDurableObjectOptions) => countingStub(name, target.getByName(id, options));
        if (prop === "get") return (id: DurableObjectId, options?: DurableObjectNamespaceGetDurableObjectOptions) => countingStub(name, target.get(id, options));
        const v = Reflect.get(target, prop, target) as unknown;
        return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  }
  const result = out as unknown as Env;
  wrapped.set(env, result);
  return result;
}

export class Gateway extends ServerGateway {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, counting(env));
  }
}

export class CodeRegistry extends ServerCodeRegistry {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, counting(env));
  }
}

const GATEWAY_PATH = /^\/__bench\/gateway\/(\d+)$/;

export default {
  async fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
    const url = new URL(request.url);
    const gateway = GATEWAY_PATH.exec(url.pathname);
    if (gateway && request.headers.get("Upgrade")?.toLowerCase() === "websocket") {
      return env.GATEWAY.getByName(`gateway:${gateway[1]}`).fetch(request);
    }
    if (url.pathname === "/__bench/counters") {
      const snapshot = { ...calls };
      if (url.searchParams.get("reset") !== "0") for (const key of Object.keys(calls)) delete calls[key];
      return Response.json(snapshot);
    }
    return server.fetch(request, counting(env), ctx);
  },
} satisfies ExportedHandler<Env>;
