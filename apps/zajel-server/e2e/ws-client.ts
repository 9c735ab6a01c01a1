/** A WebSocket client (the `ws` package) for end-to-end tests against a running server. */
import { randomBytes, randomInt, randomUUID } from "node:crypto";
import WebSocket from "ws";

export type Frame = Record<string, unknown>;

const CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
/** A random valid pairing code; random because the server keeps codes across runs in local state. */
export const randomCode = () => Array.from({ length: 6 }, () => CODE_ALPHABET[randomInt(CODE_ALPHABET.length)]).join("");
/** A random X25519-sized public key: 32 bytes in standard base64. */
export const randomKey = () => randomBytes(32).toString("base64");
/** A random relay peerId starting with `prefix`. */
export const randomPeerId = (prefix: string) => `${prefix}-${randomUUID()}`;

/** The WebSocket URL of the server at HTTP `base`, on `path`. */
export const wsUrl = (base: string, path = "/") => `${base.replace(/^http/, "ws")}${path}`;

const DEFAULT_TIMEOUT_MS = 5_000;

export interface WsClient {
  ws: WebSocket;
  /** Every frame received so far, in order, consumed or not. */
  received: Frame[];
  /** Set once the socket has closed. */
  closed: { code?: number; reason?: string };
  send(frame: Frame | string): void;
  /** The oldest frame not yet consumed by `next` or `waitFor`. */
  next(timeoutMs?: number): Promise<Frame>;
  /** Sends `frame`, then returns `next()`. */
  ask(frame: Frame | string, timeoutMs?: number): Promise<Frame>;
  /**
   * The oldest unconsumed frame of type `type`; unconsumed frames of other types stay queued,
   * so a push that races a reply does not get lost.
   */
  waitFor(type: string, timeoutMs?: number): Promise<Frame>;
  /** Resolves if no frame arrives within `ms`; rejects with the frames that did. */
  quiet(ms?: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * Connects to `ws://…/path` of the server at HTTP `base`. The greeting (`server_info`,
 * `server_identity`) is consumed unless `greeting: false`, so most tests start with their own
 * frames.
 */
export async function connect(base: string, options: { path?: string; greeting?: boolean } = {}): Promise<WsClient> {
  const ws = new WebSocket(wsUrl(base, options.path));
  const received: Frame[] = [];
  const unread: Frame[] = [];
  const closed: { code?: number; reason?: string } = {};
  const waiters = new Set<() => void>();
  const wake = () => waiters.forEach((w) => w());

  // With the default binaryType both text and binary frames arrive as Buffers.
  ws.on("message", (data) => {
    const text = data.toString();
    let frame: Frame;
    try {
      frame = JSON.parse(text) as Frame;
    } catch {
      // Kept as a frame so the failing assertion shows it instead of an uncaught exception.
      frame = { type: "(not JSON)", text };
    }
    received.push(frame);
    unread.push(frame);
    wake();
  });
  ws.on("close", (code, reason) => {
    closed.code = code;
    closed.reason = reason.toString();
    wake();
  });
  await new Promise<void>((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  // Errors after opening surface as a close, which every pending wait reports.
  ws.on("error", () => {});

  const describe = () => `received so far: ${JSON.stringify(received)}${closed.code === undefined ? "" : `; closed ${closed.code} ${closed.reason}`}`;

  /** Resolves with `take()`'s first non-undefined result, re-checked on every frame and close. */
  const until = <T>(take: () => T | undefined, what: string, timeoutMs: number) =>
    new Promise<T>((resolve, reject) => {
      const check = () => {
        const value = take();
        if (value !== undefined) return finish(() => resolve(value));
        if (closed.code !== undefined) return finish(() => reject(new Error(`socket closed while waiting for ${what}; ${describe()}`)));
      };
      const timer = setTimeout(() => finish(() => reject(new Error(`no ${what} within ${timeoutMs} ms; ${describe()}`))), timeoutMs);
      const finish = (settle: () => void) => {
        clearTimeout(timer);
        waiters.delete(check);
        settle();
      };
      waiters.add(check);
      check();
    });

  const send = (frame: Frame | string) => ws.send(typeof frame === "string" ? frame : JSON.stringify(frame));
  const next = (timeoutMs = DEFAULT_TIMEOUT_MS) => until(() => unread.shift(), "frame", timeoutMs);
  const waitFor = (type: string, timeoutMs = DEFAULT_TIMEOUT_MS) =>
    until(
      () => {
        const index = unread.findIndex((frame) => frame.type === type);
        return index < 0 ? undefined : unread.splice(index, 1)[0];
      },
      `"${type}" frame`,
      timeoutMs,
    );
  const quiet = async (ms = 300) => {
    const before = received.length;
    await new Promise((r) => setTimeout(r, ms));
    if (received.length > before) throw new Error(`expected no frame within ${ms} ms, got ${JSON.stringify(received.slice(before))}`);
  };
  const close = async () => {
    if (closed.code !== undefined) return;
    // With an explicit code: the gateway does not echo a close frame without one (1005), which
    // would leave every test waiting for the handshake to time out.
    ws.close(1000, "done");
    await until(() => (closed.code === undefined ? undefined : true), "close", DEFAULT_TIMEOUT_MS).catch(() => ws.terminate());
  };

  const client: WsClient = { ws, received, closed, send, next, ask: (frame, timeoutMs) => (send(frame), next(timeoutMs)), waitFor, quiet, close };
  if (options.greeting !== false) {
    await client.waitFor("server_info");
    await client.waitFor("server_identity");
  }
  return client;
}
