/** Trusted build keys (§4.2.8): parsing a change, applying it, and the effective set. */
import { z } from "zod";
import { HttpError } from "../http/errors.js";

export const MAX_TRUSTED_KEYS = 50;
const keySchema = z.string().min(1).max(100);

/** A parsed `POST /servers/trusted-keys` body. */
export type TrustedKeyChange = { mode: "replace" | "add"; keys: string[] } | { mode: "remove"; keys: unknown[] };

/** Which change a body asks for, checked as §4.2.8's table says. */
export function parseTrustedKeyChange(body: Record<string, unknown>): TrustedKeyChange {
  const list = (name: string) => (Array.isArray(body[name]) ? (body[name] as unknown[]) : undefined);
  const keys = list("keys");
  if (keys) return { mode: "replace", keys: checkKeys(keys, "keys") };
  const addKeys = list("addKeys");
  if (addKeys) return { mode: "add", keys: checkKeys(addKeys, "addKeys") };
  const removeKeys = list("removeKeys");
  if (removeKeys) return { mode: "remove", keys: removeKeys };
  throw HttpError.of(400, "Must provide keys, addKeys, or removeKeys");
}

function checkKeys(keys: unknown[], field: string): string[] {
  const parsed = z.array(keySchema).safeParse(keys);
  if (!parsed.success) throw HttpError.of(400, `Invalid key format in ${field} array`);
  return parsed.data;
}

/** The set after `change`, de-duplicated keeping first occurrences; `undefined` when over 50. */
export function applyTrustedKeyChange(effective: readonly string[], change: TrustedKeyChange): string[] | undefined {
  let next: string[];
  if (change.mode === "replace") next = [...change.keys];
  else if (change.mode === "add") next = [...effective, ...change.keys];
  else next = effective.filter((k) => !change.keys.includes(k));
  const unique = [...new Set(next)];
  return unique.length > MAX_TRUSTED_KEYS ? undefined : unique;
}

/** The keys of the `TRUSTED_BUILD_KEYS` variable. */
export function configuredTrustedKeys(value: string | undefined): string[] {
  return (value ?? "")
    .split(",")
    .map((k) => k.trim())
    .filter((k) => k.length > 0);
}

/** The stored set when non-empty, else the configured keys. */
export function effectiveTrustedKeys(stored: readonly string[], configured: string | undefined): string[] {
  return stored.length > 0 ? [...stored] : configuredTrustedKeys(configured);
}
