/** Bundles a benchmark Worker for Miniflare, as wrangler would (workerd conditions, ESM). */
import { build } from "esbuild";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";

export async function bundleWorker(entry: URL): Promise<string> {
  const result = await build({
    entryPoints: [fileURLToPath(entry)],
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    conditions: ["workerd", "worker", "browser"],
    mainFields: ["module", "main"],
    external: ["cloudflare:*"],
    write: false,
    logLevel: "warning",
  });
  return result.outputFiles[0]!.text;
}

/**
 * A local workerd (through Miniflare, not the `wrangler dev` proxy) running the Worker at `entry`,
 * with a SQLite-backed Durable Object class for each binding of `durableObjects`, an R2 bucket
 * (in memory) for each name of `r2Buckets` and a D1 database for each of `d1Databases`.
 */
export async function startWorker(entry: URL, durableObjects: Record<string, string>, bindings: Record<string, string> = {}, r2Buckets: string[] = [], d1Databases: string[] = []): Promise<Miniflare> {
  return new Miniflare({
    d1Databases,
    modules: true,
    script: await bundleWorker(entry),
    compatibilityDate: "2026-04-20",
    compatibilityFlags: ["nodejs_compat"],
    bindings,
    r2Buckets,
    durableObjects: Object.fromEntries(Object.entries(durableObjects).map(([binding, className]) => [binding, { className, useSQLite: true }])),
  });
}
