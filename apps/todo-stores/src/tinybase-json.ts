/**
 * JSON as TinyBase writes it for its own protocols and persisters: `undefined` (a deleted cell's
 * value in mergeable content, beside its clock) is written as U+FFFC, so it does not come back as
 * `null` (a cell that exists and holds null).
 */
const UNDEFINED = "\uFFFC";

export function stringifyWithUndefined(value: unknown): string {
  return JSON.stringify(value, (_key, v) => (v === undefined ? UNDEFINED : v));
}

export function parseWithUndefined(text: string): unknown {
  return revive(JSON.parse(text));
}

function revive(value: unknown): unknown {
  if (value === UNDEFINED) return undefined;
  if (Array.isArray(value)) return value.map(revive);
  if (value !== null && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, revive(v)]));
  return value;
}
