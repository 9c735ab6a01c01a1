/** Bundles a benchmark Worker for Miniflare, as wrangler would (workerd conditions, ESM). */
import { build } from "esbuild";
import { fileURLToPath } from "node:url";

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
