/** Steps 1–4 of processing one client frame (§7.1.4): size, per-socket rate, parse, shape. */

export const MAX_FRAME_BYTES = 262_144;
export const FRAMES_PER_WINDOW = 100;
export const WINDOW_MS = 60_000;

/** A fixed 60-second window that starts with its first counted event. */
export interface RateWindow {
  start: number;
  count: number;
}

/** Counts one event; false when it is over `limit` in the current window. */
export function countInWindow(window: RateWindow, limit: number, now: number): boolean {
  if (now - window.start >= WINDOW_MS) {
    window.start = now;
    window.count = 0;
  }
  window.count++;
  return window.count <= limit;
}

/** Byte length of a frame as received. */
export function frameBytes(message: string | ArrayBuffer): number {
  return typeof message === "string" ? new TextEncoder().encode(message).length : message.byteLength;
}

/** The frame as a typed message, or the error text to answer with. */
export function parseFrame(message: string | ArrayBuffer): { ok: true; type: string; frame: Record<string, unknown> } | { ok: false; error: string } {
  const text = typeof message === "string" ? message : new TextDecoder().decode(message);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, error: "Invalid message format: JSON parse error" };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return { ok: false, error: "Invalid message: Message must be a JSON object" };
  const frame = value as Record<string, unknown>;
  if (typeof frame.type !== "string") return { ok: false, error: 'Invalid message: Missing or invalid "type" field' };
  return { ok: true, type: frame.type, frame };
}

/** The error envelope (§7.1.5). */
export function errorFrame(message: string): string {
  return JSON.stringify({ type: "error", message });
}
