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
import { countingEnv, type CallCounter } from "../worker-counting.js";

// Every Durable Object class of the server; Gateway and CodeRegistry are replaced below (a local
// export takes precedence over `export *`).
export * from "../../apps/zajel-server/src/index.js";

const calls: Record<string, number> = {};

const count: CallCounter = (binding, method) => {
  const key = `${binding}.${method}`;
  calls[key] = (calls[key] ?? 0) + 1;
};
const counting = (env: Env) => countingEnv(env, count);

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
