/** What the app's scripts share: the local dev settings (.dev.vars, the environment over it) and input checks. */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { parseDevVars } from "../../../tools/dev-server.mjs";

const appDir = join(import.meta.dirname, "..");

/** A setting from the environment, else from .dev.vars (created by `npm start`). */
export function setting(name: string): string | undefined {
  if (process.env[name] !== undefined) return process.env[name];
  const path = join(appDir, ".dev.vars");
  return existsSync(path) ? parseDevVars(readFileSync(path, "utf8"))[name] : undefined;
}

/** Parses `value` with `schema`, or prints one line and exits 2. */
export function checked<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  console.error(`${what}: ${parsed.error.issues[0]?.message ?? "invalid"}`);
  process.exit(2);
}

export const urlSchema = z.url({ protocol: /^https?$/, error: "must be an http(s) URL" });
