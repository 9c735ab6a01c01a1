/**
 * The sharded home of the stores: a durable-shards keyspace object. With the hashed placement it
 * holds the users of its slots; with the entity placement it is one user's (or one org user's)
 * object. Its ledger only serves stores it took (`initially: "elsewhere"`): every store starts in
 * the legacy object, and a store nobody moved yet is never served empty here.
 */
import { KEY_LEDGER_TABLE, KeyLedger, rangesContain, ShardedObject, type KeyspaceSchema, type SlotRange, type TimerHandlers } from "durable-shards";
import type { Env } from "./env.js";
import { outboxLength } from "./outbox.js";
import { StoreHost, STORE_MIGRATIONS, type StoreCopy } from "./store-host.js";
import { OP_HEADER, serveStore } from "./store-http.js";

export class StoreShard extends ShardedObject<Env> {
  private readonly ledger = new KeyLedger(this.ctx.storage, { initially: "elsewhere", slotOf: (key) => this.slotOf(key) });
  private readonly host = new StoreHost({
    ctx: this.ctx,
    env: this.env,
    ledger: this.ledger,
    timers: this.timers,
    slotOf: (key) => this.slotOf(key),
    serves: (key) => this.servesKey(key),
  });

  protected override schema(): KeyspaceSchema {
    return {
      scope: "todo-stores",
      migrations: STORE_MIGRATIONS,
      // The ledger moves with the stores: where a store is served goes where its data goes.
      slotTables: ["stores", KEY_LEDGER_TABLE],
    };
  }

  protected override shardMethods(): readonly string[] {
    return ["outboxLength", "drainOutbox"];
  }

  protected override timerHandlers(): TimerHandlers {
    return this.host.timerHandlers();
  }

  override async fetch(request: Request): Promise<Response> {
    const body = request.method === "POST" ? await request.text() : "";
    // After the body is read: from here to the write, nothing awaits, so no move can interleave.
    const fenced = this.fencedRequest(request);
    if ("refused" in fenced) return fenced.refused;
    const started = performance.now();
    const response = serveStore(this.host, fenced.key, request, body);
    this.countServed(request.headers.get(OP_HEADER) ?? "fetch", fenced.key, (performance.now() - started) / 1000, response.status >= 500);
    return response;
  }

  override webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): void {
    const key = this.host.message(ws, message);
    if (key !== undefined) this.countServed("message", key, 0);
  }

  override webSocketClose(ws: WebSocket): void {
    this.host.closed(ws);
  }

  // Slots that moved away: their stores' sockets reconnect to the new owner.
  protected override released(ranges: readonly SlotRange[]): void {
    for (const key of this.host.liveKeys()) if (rangesContain(ranges, this.slotOf(key))) this.host.disconnect(key, 1012, "store moved; reconnect");
  }

  // ---- per store (routed) ----

  exportStore(key: string): Promise<{ data: StoreCopy; hash: string; epoch: number }> {
    return this.host.exportStore(key);
  }

  importStore(key: string, data: StoreCopy, epoch: number): Promise<{ hash: string }> {
    return this.host.importStore(key, data, epoch);
  }

  finishStore(key: string): void {
    this.host.finishStore(key);
  }

  /** The hash of the copy of `epoch` this shard took (undefined: not taken), and the store now. */
  async copyTaken(key: string, epoch: number): Promise<{ copyHash: string | undefined; rows: number; hash: string } | { copyHash: undefined }> {
    const copyHash = this.ledger.admit(key, epoch);
    if (copyHash === undefined || this.ledger.state(key) !== "serving") return { copyHash: undefined };
    return { copyHash, ...(await this.host.summary(key, true)) };
  }

  /** The store's content as JSON whatever the ledger says (a backup restored into a scratch keyspace); null when absent. */
  readStore(key: string): string | null {
    const content = this.host.contentOf(key);
    return content === null ? null : JSON.stringify(content);
  }

  // ---- per shard ----

  outboxLength(): number {
    return outboxLength(this.ctx.storage.sql);
  }

  /** Sends the outbox to D1 now (the drain timer does it shortly after each write). */
  drainOutbox(): Promise<{ sent: number; left: number }> {
    return this.host.drainOutbox();
  }
}
