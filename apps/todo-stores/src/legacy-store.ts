/**
 * The legacy `default-store`: one object holding every user's store, as the app had it before
 * sharding, speaking the same contract. It is the first home of every store: its ledger serves a
 * store until the store moves to the sharded side, and it lists what a sweep moves either way.
 */
import { DurableObject } from "cloudflare:workers";
import { KEY_LEDGER_TABLE, KeyLedger, migrate, settle, Timers, type Failure } from "durable-shards";
import type { Env } from "./env.js";
import { parseStoreKey } from "./store-key.js";
import { StoreHost, STORE_MIGRATIONS, type StoreCopy } from "./store-host.js";
import { errorAnswer, KEY_HEADER, serveStore } from "./store-http.js";

/** The legacy object's name, as the app always had it. */
export const LEGACY_NAME = "default-store";

export class LegacyStore extends DurableObject<Env> {
  private readonly ledger: KeyLedger;
  private readonly timers: Timers;
  private readonly host: StoreHost;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    migrate(ctx.storage, "todo-stores/legacy", STORE_MIGRATIONS);
    this.ledger = new KeyLedger(ctx.storage);
    this.timers = new Timers(ctx.storage);
    this.host = new StoreHost({ ctx, env, ledger: this.ledger, timers: this.timers, slotOf: () => 0, serves: () => true });
  }

  override async fetch(request: Request): Promise<Response> {
    const body = request.method === "POST" ? await request.text() : "";
    const key = request.headers.get(KEY_HEADER) ?? "";
    if (!parseStoreKey(key)) return errorAnswer(400, "InvalidArgument", "no store key");
    return serveStore(this.host, key, request, body);
  }

  override webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): void {
    this.host.message(ws, message);
  }

  override webSocketClose(ws: WebSocket): void {
    this.host.closed(ws);
  }

  /** Requests and socket messages this object served since it started (in memory). */
  requestsServed(): number {
    return this.host.served;
  }

  override async alarm(): Promise<void> {
    await this.timers.run(this.host.timerHandlers());
  }

  // ---- migration (answers are values: refusals are expected, not exceptions) ----

  exportStore(key: string): Promise<{ data: StoreCopy; hash: string; epoch: number } | Failure> {
    return settle(() => this.host.exportStore(key));
  }

  importStore(key: string, data: StoreCopy, epoch: number): Promise<{ hash: string } | Failure> {
    return settle(() => this.host.importStore(key, data, epoch));
  }

  finishStore(key: string): void {
    this.host.finishStore(key);
  }

  /** Stores still here (served or frozen), in key order after `after`: what a sweep to the sharded side moves. */
  keysHere(after: string | null, limit: number): string[] {
    return this.keys("(l.state IS NULL OR l.state IN ('serving', 'frozen'))", after, limit);
  }

  /** Stores on the sharded side (moved from here), in key order: what a sweep back moves, and what verify checks. */
  keysElsewhere(after: string | null, limit: number): string[] {
    return this.ledger.keys("migrated", after, limit);
  }

  /** Stores by where they are: here, moving, or on the sharded side. */
  counts(): { here: number; frozen: number; elsewhere: number } {
    const { frozen, migrated } = this.ledger.counts();
    const here = this.ctx.storage.sql
      .exec<{ n: number }>(`SELECT COUNT(*) AS n FROM stores s LEFT JOIN ${KEY_LEDGER_TABLE} l ON l.key = s.key WHERE l.state IS NULL OR l.state = 'serving'`)
      .one().n;
    return { here, frozen, elsewhere: migrated };
  }

  /**
   * What verify compares for each moved store of `keys` (one call for a page of them): the epoch
   * of its copy, and the copy's rows and hash; null for a store that is not on the sharded side.
   */
  async copiesOf(keys: string[]): Promise<({ epoch: number; rows: number; hash: string } | null)[]> {
    const copies: ({ epoch: number; rows: number; hash: string } | null)[] = [];
    for (const key of keys) {
      // The frozen copy stays here after the move: what was exported, unchanged since.
      copies.push(this.ledger.state(key) === "migrated" ? { epoch: this.ledger.epoch(key), ...(await this.host.summary(key, true)) } : null);
    }
    return copies;
  }

  drainOutbox(): Promise<{ sent: number; left: number }> {
    return this.host.drainOutbox();
  }

  private keys(where: string, after: string | null, limit: number): string[] {
    return this.ctx.storage.sql
      .exec<{ key: string }>(`SELECT s.key FROM stores s LEFT JOIN ${KEY_LEDGER_TABLE} l ON l.key = s.key WHERE ${where} AND s.key > ? ORDER BY s.key LIMIT ?`, after ?? "", limit)
      .toArray()
      .map((r) => r.key);
  }
}
