/** Test clients for the WebSocket protocol: real sockets to real gateways inside workerd. */
import { env, runInDurableObject, SELF } from "cloudflare:test";
import { afterAll, expect } from "vitest";
import type { Env } from "../../src/env.js";
import { router, type KeyspaceName } from "../../src/keyspaces.js";
import { callWith, freshIp } from "../helpers.js";

export type Frame = Record<string, unknown>;

const ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
/** A random valid pairing code. */
export const randomCode = () => Array.from(crypto.getRandomValues(new Uint8Array(6)), (b) => ALPHABET[b % 32]).join("");
/** A valid X25519 public key (32 bytes, standard base64) filled with `byte`. */
export const keyOf = (byte: number) => btoa(String.fromCharCode(...new Uint8Array(32).fill(byte)));
/** A random relay peerId with `prefix`. */
export const peerIdOf = (prefix: string) => `${prefix}-${crypto.randomUUID().slice(0, 8)}`;

/** The shard of keyspace `keyspace` that owns `key`. */
export async function shardOf(keyspace: KeyspaceName, key: string): Promise<string> {
  const map = await router(env as unknown as Env, keyspace).map(); // creates the keyspace on first use
  return map.shardOfKey(key).id;
}

/** A client socket: frames received, close info, and helpers to send and await frames. */
export interface TestSocket {
  ws: WebSocket;
  frames: Frame[];
  closed: { code?: number; reason?: string };
  send(frame: Frame | string): void;
  /** The next frame not yet returned by `next`. */
  next(): Promise<Frame>;
  /** Sends `frame` and returns the next frame. */
  ask(frame: Frame | string): Promise<Frame>;
  /** Waits (≤ 5 s) until `done()` holds, then asserts it. */
  wait(done: () => boolean): Promise<void>;
  /** Asserts no further frame arrives within `ms`. */
  quiet(ms?: number): Promise<void>;
}

/** Every socket a test file opened, with its client IP. */
const opened: { ws: WebSocket; ip: string }[] = [];

/**
 * Closes every socket the file left open and waits until their gateways released them (the per-IP
 * count is the last step of a release). Otherwise the release would run while the test runtime
 * tears the file's environment down, and fail there.
 */
async function closeOpenSockets(): Promise<void> {
  for (const { ws } of opened) if (ws.readyState === WebSocket.OPEN) ws.close(1000, "test file done");
  const ips = [...new Set(opened.map((o) => o.ip))];
  opened.length = 0;
  const deadline = Date.now() + 10_000;
  for (const ip of ips) {
    const counter = env.CONNECTIONS.getByName(`connections:${await shardOf("connections", ip)}`);
    const count = () => runInDurableObject(counter, (_, state) => state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM sockets WHERE ip = ?", ip).one().n);
    while ((await count()) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  }
}
afterAll(closeOpenSockets, 15_000);

function wrap(response: Response, ip: string): TestSocket {
  expect(response.status).toBe(101);
  const ws = response.webSocket!;
  opened.push({ ws, ip });
  const frames: Frame[] = [];
  const closed: { code?: number; reason?: string } = {};
  let wake: (() => void) | undefined;
  ws.addEventListener("message", (event) => {
    const data = typeof event.data === "string" ? event.data : new TextDecoder().decode(event.data as ArrayBuffer);
    frames.push(JSON.parse(data) as Frame);
    wake?.();
  });
  ws.addEventListener("close", (event) => {
    closed.code = event.code;
    closed.reason = event.reason;
    wake?.();
  });
  ws.accept();
  let seen = 0;
  const wait = async (done: () => boolean) => {
    const deadline = Date.now() + 5_000;
    while (!done() && Date.now() < deadline) await new Promise<void>((r) => ((wake = r), setTimeout(r, 50)));
    expect(done()).toBe(true);
  };
  const next = async () => {
    await wait(() => frames.length > seen);
    return frames[seen++]!;
  };
  const send = (frame: Frame | string) => ws.send(typeof frame === "string" ? frame : JSON.stringify(frame));
  const quiet = async (ms = 300) => {
    const before = frames.length;
    await new Promise((r) => setTimeout(r, ms));
    expect(frames.slice(before)).toEqual([]);
  };
  return { ws, frames, closed, send, next, wait, quiet, ask: async (frame) => (send(frame), next()) };
}

/**
 * A socket on gateway `index` (bypassing the Worker's random pick), greeting consumed unless
 * `greeting: false`.
 */
export async function socketOn(index: number, options: { ip?: string; greeting?: boolean } = {}): Promise<TestSocket> {
  const ip = options.ip ?? freshIp();
  const headers: Record<string, string> = { Upgrade: "websocket", "CF-Connecting-IP": ip };
  const socket = wrap(await env.GATEWAY.getByName(`gateway:${index}`).fetch("https://signal.zajel.test/", { headers }), ip);
  if (options.greeting !== false) {
    await socket.next();
    await socket.next();
  }
  return socket;
}

/** A socket through the Worker (path `path`, gateway picked by the Worker); greeting not consumed. */
export async function connect(path = "/", ip = freshIp()): Promise<TestSocket> {
  return wrap(await SELF.fetch(`https://signal.zajel.test${path}`, { headers: { Upgrade: "websocket", "CF-Connecting-IP": ip } }), ip);
}

/**
 * A socket through the Worker run with `overrides` applied to its env (e.g. REQUIRE_WS_ATTESTATION);
 * greeting not consumed.
 */
export async function connectWith(overrides: Partial<Record<keyof Env, string | undefined>>, ip = freshIp()): Promise<TestSocket> {
  return wrap(await callWith(overrides, "/", { headers: { Upgrade: "websocket", "CF-Connecting-IP": ip } }), ip);
}

/** A socket on gateway `index` holding a freshly registered pairing code. */
export async function registeredOn(index: number, byte = 1, code = randomCode()): Promise<TestSocket & { code: string; key: string }> {
  const socket = await socketOn(index);
  const key = keyOf(byte);
  const reply = await socket.ask({ type: "register", pairingCode: code, publicKey: key });
  expect(reply).toMatchObject({ type: "registered", pairingCode: code });
  return Object.assign(socket, { code, key });
}
