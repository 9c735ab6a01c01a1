/** Data for end-to-end tests of operations: keyspaces filled through the server's public protocol. */
import { expect } from "vitest";
import { connect, randomCode, randomKey, type WsClient } from "./ws-client.js";

/**
 * Caches `n` chunks of about 60 KB through relay clients (each announces, then pushes), so the
 * chunks keyspace holds data worth copying. A socket may send 100 frames a minute: 80 chunks each.
 */
export async function fillChunks(base: string, n: number): Promise<void> {
  const data = "x".repeat(60_000);
  for (let start = 0; start < n; start += 80) {
    await withRegisteredClient(base, async (socket, code) => {
      const ids = Array.from({ length: Math.min(80, n - start) }, (_, i) => `cli-e2e-${Date.now()}-${start + i}`);
      await announceChunks(socket, code, ids);
      for (const chunkId of ids) expect(await socket.ask({ type: "chunk_push", peerId: code, chunkId, channelId: "cli-e2e", data })).toMatchObject({ type: "chunk_push_ack" });
    });
  }
}

/** Runs `use` with a client registered under a new pairing code; closes it after. */
export async function withRegisteredClient(base: string, use: (socket: WsClient, code: string) => Promise<void>): Promise<void> {
  const socket = await connect(base);
  try {
    const code = randomCode();
    expect((await socket.ask({ type: "register", pairingCode: code, publicKey: randomKey() })).type).toBe("registered");
    await use(socket, code);
  } finally {
    await socket.close();
  }
}

/** Announces `ids` as chunks `code`'s client holds, and checks that every one was registered. */
export async function announceChunks(socket: WsClient, code: string, ids: string[]): Promise<void> {
  expect(await socket.ask({ type: "chunk_announce", peerId: code, chunks: ids.map((chunkId) => ({ chunkId })) })).toEqual({ type: "chunk_announce_ack", registered: ids.length });
}

/** Registers `n` pairing codes, one socket each (closed after), so the codes keyspace has measured load. */
export async function registerCodes(base: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await withRegisteredClient(base, async () => undefined);
}
