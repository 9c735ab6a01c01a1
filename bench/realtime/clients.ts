/** WebSocket clients of bench:realtime (the `ws` package): connect, wait for frames, relay bookkeeping. */
import { randomBytes, randomInt } from "node:crypto";
import WebSocket from "ws";

export type Frame = { type: string } & Record<string, unknown>;

const CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
const used = new Set<string>();

/** A pairing code not handed out before in this process. */
export function uniqueCode(): string {
  for (;;) {
    const code = Array.from({ length: 6 }, () => CODE_ALPHABET[randomInt(CODE_ALPHABET.length)]).join("");
    if (!used.has(code)) {
      used.add(code);
      return code;
    }
  }
}

let ips = 0;
/** A client IP not handed out before in this process (each socket gets its own). */
export const uniqueIp = () => {
  const n = ++ips;
  return `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
};

interface Waiter {
  resolve(frame: Frame): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

/** One client socket: a pairing code, a key, the gateway it sits on, and what it sent and got. */
export class Client {
  readonly code = uniqueCode();
  readonly publicKey = randomBytes(32).toString("base64");
  readonly ip = uniqueIp();
  peer: Client | undefined;
  /** `error` (and other unexpected) frames received. */
  readonly errors: Frame[] = [];
  /** Called for every forwarded `offer`/`ice_candidate` frame, with the receive time. */
  onRelay: ((frame: Frame, at: number) => void) | undefined;
  /** Relay bookkeeping, as a sender: next sequence number and messages not yet received. */
  nextSeq = 0;
  readonly outstanding = new Set<number>();
  /** As a receiver: highest sequence number seen from the peer, and every one seen. */
  lastSeq = -1;
  readonly seen = new Set<number>();
  private wake: (() => void) | undefined;
  private readonly inbox: Frame[] = [];
  private readonly waiters = new Map<string, Waiter>();
  private ws!: WebSocket;

  private constructor(readonly gateway: number) {}

  /** Connects to `gateway:<n>` through the bench route; resolves once the greeting arrived. */
  static async open(base: string, gateway: number, timeoutMs = 30_000): Promise<Client> {
    const client = new Client(gateway);
    const url = `${base.replace(/^http/, "ws").replace(/\/$/, "")}/__bench/gateway/${gateway}`;
    client.ws = new WebSocket(url, { headers: { "CF-Connecting-IP": client.ip }, perMessageDeflate: false });
    client.ws.on("message", (data) => client.receive(data.toString()));
    client.ws.on("close", () => {
      for (const [type, w] of client.waiters) w.reject(new Error(`${client.code}: socket closed while waiting for ${type}`));
      client.waiters.clear();
    });
    await new Promise<void>((resolve, reject) => {
      client.ws.once("open", resolve);
      client.ws.once("error", reject);
    });
    client.ws.on("error", () => {});
    await client.waitFor("server_info", timeoutMs);
    await client.waitFor("server_identity", timeoutMs);
    return client;
  }

  private receive(text: string): void {
    const at = performance.now();
    let frame: Frame;
    try {
      frame = JSON.parse(text) as Frame;
    } catch {
      this.errors.push({ type: "(not JSON)", text });
      return;
    }
    if ((frame.type === "offer" || frame.type === "ice_candidate") && this.onRelay) return this.onRelay(frame, at);
    if (frame.type === "error") this.errors.push(frame);
    const waiter = this.waiters.get(frame.type);
    if (waiter) {
      this.waiters.delete(frame.type);
      clearTimeout(waiter.timer);
      waiter.resolve(frame);
    } else {
      this.inbox.push(frame);
    }
  }

  send(frame: Record<string, unknown>): void {
    this.ws.send(JSON.stringify(frame));
  }

  /** The oldest unconsumed frame of `type` (earlier ones are kept in the inbox until asked for). */
  waitFor(type: string, timeoutMs = 30_000): Promise<Frame> {
    const index = this.inbox.findIndex((f) => f.type === type);
    if (index >= 0) return Promise.resolve(this.inbox.splice(index, 1)[0]!);
    return new Promise<Frame>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(type);
        reject(new Error(`${this.code}: no ${type} within ${timeoutMs} ms; unread ${JSON.stringify(this.inbox)}; errors ${JSON.stringify(this.errors)}`));
      }, timeoutMs);
      this.waiters.set(type, { resolve, reject, timer });
    });
  }

  /** Marks `seq` (sent by this client) as received by its peer; false if it was not outstanding. */
  delivered(seq: number): boolean {
    const had = this.outstanding.delete(seq);
    this.wake?.();
    return had;
  }

  /** Resolves true once fewer than `limit` messages are outstanding, false after `timeoutMs`. */
  below(limit: number, timeoutMs: number): Promise<boolean> {
    if (this.outstanding.size < limit) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.wake = undefined;
        resolve(false);
      }, timeoutMs);
      this.wake = () => {
        if (this.outstanding.size >= limit) return;
        clearTimeout(timer);
        this.wake = undefined;
        resolve(true);
      };
    });
  }

  terminate(): void {
    this.ws.terminate();
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.ws.readyState === WebSocket.CLOSED) return resolve();
      const timer = setTimeout(() => {
        this.ws.terminate();
        resolve();
      }, 5_000);
      this.ws.once("close", () => {
        clearTimeout(timer);
        resolve();
      });
      this.ws.close();
    });
  }
}

/** Runs `task` over `items`, `concurrency` at a time. */
export async function inPool<T, R>(items: readonly T[], concurrency: number, task: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await task(items[i]!, i);
      }
    }),
  );
  return out;
}
