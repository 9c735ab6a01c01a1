/**
 * Worker of bench:bootstrap: the real server, with every Durable Object call it makes counted per
 * binding, plus the baseline design (one object that lists and signs on every request).
 */
import { DurableObject } from "cloudflare:workers";
import server from "../../apps/zajel-server/src/index.js";
import { signingKeyFromSeed, sign } from "../../apps/zajel-server/src/crypto/ed25519.js";
import { toBase64, utf8 } from "../../apps/zajel-server/src/crypto/encoding.js";
import type { Env } from "../../apps/zajel-server/src/env.js";
import { rateLimitRouter } from "../../apps/zajel-server/src/ratelimit/middleware.js";
import { countingEnv, type CallCounter } from "../worker-counting.js";

export {
  Directory,
  RateLimiter,
  AdminState,
  ServerRegistry,
  RegistryIndex,
  NonceStore,
  ServerListCache,
  DeviceStore,
  DeviceIndex,
  ChallengeStore,
} from "../../apps/zajel-server/src/index.js";

interface BenchEnv extends Env {
  BASELINE: DurableObjectNamespace<BaselineRegistry>;
}

/** The baseline: every entry in one object; each list reads, serializes and signs. */
export class BaselineRegistry extends DurableObject<BenchEnv> {
  constructor(ctx: DurableObjectState, env: BenchEnv) {
    super(ctx, env);
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS servers (server_id TEXT PRIMARY KEY, entry TEXT NOT NULL, last_seen INTEGER NOT NULL)");
  }

  put(entry: { serverId: string; lastSeen: number }): void {
    this.ctx.storage.sql.exec("INSERT OR REPLACE INTO servers VALUES (?, ?, ?)", entry.serverId, JSON.stringify(entry), entry.lastSeen);
  }

  async list(nonce: string | null): Promise<{ body: string; signature: string }> {
    const rows = this.ctx.storage.sql
      .exec<{ entry: string }>("SELECT entry FROM servers WHERE last_seen > ? ORDER BY server_id", Date.now() - 300_000)
      .toArray();
    const servers = `[${rows.map((r) => r.entry).join(",")}]`;
    const body = `{"servers":${servers}${nonce ? `,"nonce":${JSON.stringify(nonce)}` : ""},"timestamp":${Date.now()}}`;
    const key = (await signingKeyFromSeed(this.env.BOOTSTRAP_SIGNING_KEY))!;
    return { body, signature: toBase64(await sign(key, utf8(body))) };
  }
}

const calls: Record<string, number> = {};

const countByBinding: CallCounter = (binding) => void (calls[binding] = (calls[binding] ?? 0) + 1);
const counting = (env: BenchEnv) => countingEnv(env, countByBinding);

/** One `GET /servers` of either design, answered as a client would receive it. */
async function list(design: string, nonce: string | null, env: BenchEnv, ctx: ExecutionContext, ip: string): Promise<Response> {
  const query = nonce ? `?nonce=${nonce}` : "";
  const path = design === "ours" ? `/servers${query}` : `/bench/baseline/servers${query}`;
  return handle(new Request(`http://bench${path}`, { headers: { "CF-Connecting-IP": ip } }), env, ctx);
}

let driven = 0;

/**
 * Runs `n` list requests of one design inside the Worker, `c` at a time, each from a new client IP,
 * reading every body. Times are taken at I/O boundaries (the runtime's clock), in ms.
 */
async function drive(url: URL, env: BenchEnv, ctx: ExecutionContext): Promise<Response> {
  const design = url.searchParams.get("design")!;
  const withNonce = url.searchParams.get("nonce") === "1";
  const n = Number(url.searchParams.get("n"));
  const c = Number(url.searchParams.get("c"));
  const latencies: number[] = [];
  let next = 0;
  let bytes = 0;
  await Promise.all(
    Array.from({ length: c }, async () => {
      while (next < n) {
        next++;
        const id = ++driven;
        const started = Date.now();
        const response = await list(design, withNonce ? `bench${id.toString().padStart(12, "0")}` : null, env, ctx, `10.9.${(id >> 8) & 255}.${id & 255}.${id >> 16}`);
        if (response.status !== 200) throw new Error(`${design}: ${response.status} ${await response.text()}`);
        bytes += (await response.arrayBuffer()).byteLength;
        latencies.push(Date.now() - started);
      }
    }),
  );
  return Response.json({ latencies, bytes });
}

async function handle(request: Request, env: BenchEnv, ctx: ExecutionContext): Promise<Response> {
  const url = new URL(request.url);
    if (url.pathname === "/bench/calls") {
      const snapshot = { ...calls };
      for (const k of Object.keys(calls)) delete calls[k];
      return Response.json(snapshot);
    }
    const baseline = env.BASELINE.getByName("baseline");
    if (url.pathname === "/bench/baseline/put") {
      await baseline.put(await request.json());
      return new Response(null, { status: 204 });
    }
    if (url.pathname === "/bench/baseline/servers") {
      // The same per-request rate-limit check our design pays, so the comparison is like for like.
      const ip = request.headers.get("CF-Connecting-IP") ?? "unknown";
      const decision = await rateLimitRouter(env).get(`GET:/servers|${ip}`).hit(30);
      if (!decision.allowed) return new Response("limited", { status: 429 });
      const { body, signature } = await baseline.list(url.searchParams.get("nonce"));
      return new Response(body, { headers: { "Content-Type": "application/json", "X-Bootstrap-Signature": signature } });
    }
    if (url.pathname === "/bench/drive") return drive(url, env, ctx);
    return server.fetch(request, counting(env), ctx);
}

export default { fetch: handle } satisfies ExportedHandler<BenchEnv>;
