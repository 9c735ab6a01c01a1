/** Configuration from the environment (docs/zajel-protocol.md §2). */
import type { Env } from "./env.js";

const DEFAULT_ALLOWED_ORIGINS = ["https://zajel.hamzalabs.dev", "https://signal.zajel.hamzalabs.dev"];

/** A flag is on only when its value is exactly `true`. */
export function flag(value: string | undefined): boolean {
  return value === "true";
}

/** The CORS allowlist: `ALLOWED_ORIGINS` split on commas, or the reference's defaults. */
export function allowedOrigins(env: Env): string[] {
  if (env.ALLOWED_ORIGINS === undefined) return DEFAULT_ALLOWED_ORIGINS;
  return env.ALLOWED_ORIGINS.split(",")
    .map((o) => o.trim())
    .filter((o) => o.length > 0);
}

/** Whether `origin` is allowed; `http://localhost:*` allows any port of `http://localhost`. */
export function isAllowedOrigin(origin: string, allowed: readonly string[]): boolean {
  if (allowed.includes(origin)) return true;
  if (!allowed.includes("http://localhost:*")) return false;
  try {
    const url = new URL(origin);
    return url.protocol === "http:" && url.hostname === "localhost";
  } catch {
    return false;
  }
}
