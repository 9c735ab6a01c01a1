/**
 * Many users' TinyBase stores in one Durable Object: the legacy `default-store` holds every user,
 * a store shard the users of its slots, an entity object one user. Each store is a TinyBase
 * MergeableStore, kept in memory while it has sockets (and the most recently used idle ones), and
 * persisted as one JSON row (`stores`) with its outbox entries in the same transaction. It is
 * served over TinyBase's remote-persister contract (load, save) and its WebSocket synchronizer
 * protocol, with a server peer per store so that what arrives over HTTP reaches the sockets and the
 * other way round.
 *
 * Storage mode: one JSON row per store, not TinyBase's fragmented SQL tables. A store is read and
 * written whole in one statement (fragmented mode times out on stores over about 200 KB), it moves
 * with its slot as one row, and a save is bounded (`MAX_SAVE_BYTES`) far below the 2 MB row limit.
 */
import { contentHash, errorStatus, ShardError, type Migration, type KeyLedger, type Timers } from "durable-shards";
import { createMergeableStore, type MergeableContent, type MergeableStore } from "tinybase";
import { createCustomSynchronizer, type Receive, type Synchronizer } from "tinybase/synchronizers";
import { rowCount, type StoreContent } from "./content.js";
import type { Env } from "./env.js";
import { appendOutbox, DRAIN_DELAY_MS, DRAIN_TIMER, drainOnTimer, OUTBOX_TABLE, type OutboxEntry } from "./outbox.js";
import { encodeMessage, frame, parseFrame, SERVER_CLIENT_ID } from "./sync-protocol.js";
import { RateWindow } from "./rate-window.js";
import { parseWithUndefined, stringifyWithUndefined } from "./tinybase-json.js";

/**
 * The migrations of every object that hosts stores (the legacy object and the shards): the stores
 * (`etag` changes with every write) and the outbox.
 */
export const STORE_MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: "stores",
    up: `CREATE TABLE stores (key TEXT PRIMARY KEY, slot INTEGER NOT NULL, content TEXT NOT NULL, etag TEXT NOT NULL,
      rows INTEGER NOT NULL, updated_at INTEGER NOT NULL); CREATE INDEX stores_slot ON stores (slot); ${OUTBOX_TABLE}`,
  },
];

/** Stores kept in memory without a socket (the least recently used beyond it are dropped). */
const KEPT_IDLE = 256;

/** Largest persisted store (content with its clocks), below the 2 MB row limit. */
const MAX_PERSISTED_CHARS = 1_800_000;

/** What a host needs from the object it lives in. */
export interface HostOptions {
  ctx: DurableObjectState;
  env: Env;
  ledger: KeyLedger;
  /** The object's timers; the host runs the outbox drain on {@link DRAIN_TIMER}. */
  timers: Timers;
  slotOf(key: string): number;
  /** Whether the object serves `key` now (a shard's slots); checked before each socket write. */
  serves(key: string): boolean;
}

/**
 * A store's exported copy: its mergeable content (with TinyBase's clocks, so nothing merges
 * differently after) as TinyBase's JSON. A string, because RPC cannot carry TinyBase's objects.
 */
export type StoreCopy = string;

interface OpenStore {
  store: MergeableStore;
  etag: string;
  sync?: Synchronizer;
  receive?: Receive;
}

/** Why a store answered with an error: a status and a JSON message. */
export class StoreRefusal extends Error {
  constructor(
    readonly status: 400 | 404 | 409 | 413 | 429 | 503,
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

export class StoreHost {
  private readonly open = new Map<string, OpenStore>();
  private readonly rate: RateWindow;
  /** Why the last write was not kept, for the save that caused it. */
  private failed: StoreRefusal | undefined;

  private readonly ratePerMinute: number;

  constructor(private readonly o: HostOptions) {
    this.ratePerMinute = Number(o.env.RATE_LIMIT_PER_MINUTE ?? 600);
    this.rate = new RateWindow(this.ratePerMinute, 60_000);
  }

  /** The host's timer handlers, for the object's alarm. */
  timerHandlers(): Record<string, () => Promise<void>> {
    return { [DRAIN_TIMER]: async () => void (await this.drainOutbox()) };
  }

  /** Sends the outbox to D1 now (the drain timer does it shortly after each write). */
  drainOutbox(): Promise<{ sent: number; left: number }> {
    return drainOnTimer(this.sql, this.o.env.DB, this.o.timers);
  }

  private get sql(): SqlStorage {
    return this.o.ctx.storage.sql;
  }

  /** Throws unless this object serves `key` now (the ledger's `Migrating`/`Migrated` included). */
  check(key: string): void {
    this.o.ledger.serve(key);
  }

  /** Requests and socket messages served since this object started (for measuring the legacy object). */
  served = 0;

  /** Counts one request of `key` against its rate limit; throws a 429 refusal past it. */
  admit(key: string): void {
    const wait = this.take(key);
    if (wait > 0) throw new StoreRefusal(429, `rate limit of ${this.ratePerMinute} requests per minute for this store; retry in ${Math.ceil(wait / 1000)} s`, "RateLimited");
  }

  /** Counts a request or socket message of `key`: 0 when within its rate limit, else the ms to wait. */
  private take(key: string): number {
    this.served++;
    return this.rate.take(key);
  }

  /** Whether `key` is served here now: this object's slot, and the ledger's `serving`. */
  private servedHere(key: string): boolean {
    return this.o.serves(key) && this.o.ledger.state(key) === "serving";
  }

  /** The store's content for TinyBase's remote persister, and its ETag (after {@link check}). */
  load(key: string): { content: StoreContent; etag: string } {
    const s = this.store(key);
    return { content: s.store.getContent() as StoreContent, etag: s.etag };
  }

  /** The store's ETag without reading it (HEAD: TinyBase's remote persister polls with it). */
  etag(key: string): string {
    return this.sql.exec<{ etag: string }>("SELECT etag FROM stores WHERE key = ?", key).toArray()[0]?.etag ?? EMPTY_ETAG;
  }

  /** Replaces the store's content, as TinyBase's remote persister saves it whole (after {@link check}). */
  save(key: string, content: StoreContent): { rows: number } {
    const s = this.store(key);
    this.failed = undefined;
    s.store.setContent(content);
    const failed = this.failed;
    this.failed = undefined;
    if (failed) throw failed;
    return { rows: rowCount(content) };
  }

  /** Rows and content hash of the store (what verify compares); `anyState`: also a copy not served here. */
  async summary(key: string, anyState = false): Promise<{ rows: number; hash: string }> {
    if (!anyState) this.check(key);
    const content = this.store(key).store.getContent() as StoreContent;
    return { rows: rowCount(content), hash: await contentHash(content) };
  }

  /** The store's content whatever the ledger says, or null when this object holds none. */
  contentOf(key: string): StoreContent | null {
    if (this.etag(key) === EMPTY_ETAG) return null;
    return this.store(key).store.getContent() as StoreContent;
  }

  // ---- migration (KeyLedger + migrateKey on both sides) ---------------------------------------

  /** Freezes the store and returns its copy (see `migrateKey`); its sockets are told to reconnect. */
  async exportStore(key: string): Promise<{ data: StoreCopy; hash: string; epoch: number }> {
    const epoch = this.o.ledger.freeze(key);
    const content = this.store(key).store.getContent();
    this.disconnect(key, 1012, "store moving; reconnect");
    // The persisted row is the copy as it is (an absent store: an empty one).
    const data = this.sql.exec<{ content: string }>("SELECT content FROM stores WHERE key = ?", key).toArray()[0]?.content ?? EMPTY_COPY();
    return { data, hash: await contentHash(content), epoch };
  }

  /** Takes a store's copy (unless the copy of `epoch` was taken before) and serves it. */
  async importStore(key: string, data: StoreCopy, epoch: number): Promise<{ hash: string }> {
    const store = createMergeableStore();
    store.setMergeableContent(parseWithUndefined(data) as MergeableContent);
    const hash = await contentHash(store.getContent());
    // After the await, and in one step with the write: two runs of the same move may both have got
    // here, and the second must not replace what was written once the first served the store.
    const seen = this.o.ledger.admit(key, epoch);
    if (seen !== undefined) return { hash: seen };
    // The content and the ledger together, so a crash cannot leave one without the other.
    this.o.ctx.storage.transactionSync(() => {
      this.persistRow(key, data, rowsOf(store), []);
      this.o.ledger.taken(key, epoch, hash);
    });
    this.forget(key);
    return { hash };
  }

  /** Marks the store served by the other side. */
  finishStore(key: string): void {
    this.o.ledger.finish(key);
    this.forget(key);
  }

  // ---- WebSocket synchronizer -----------------------------------------------------------------

  /** Accepts a synchronizer socket for `key` (hibernatable; tagged with its client id and key). */
  accept(key: string, request: Request): Response {
    const clientId = request.headers.get("sec-websocket-key") ?? crypto.randomUUID();
    const { 0: client, 1: server } = new WebSocketPair();
    this.o.ctx.acceptWebSocket(server, [clientId, key]);
    server.send(frame(SERVER_CLIENT_ID, encodeMessage(null, 1, "")));
    this.peer(key);
    return new Response(null, { status: 101, webSocket: client });
  }

  /** A frame from a socket: checked, counted, then forwarded as TinyBase's server does; returns the store key it was for. */
  message(ws: WebSocket, data: string | ArrayBuffer): string | undefined {
    const [clientId, key] = this.o.ctx.getTags(ws);
    if (clientId === undefined || key === undefined) return undefined;
    const refuse = (code: number, reason: string) => (ws.close(code, reason), undefined);
    if (typeof data !== "string") return refuse(1003, "frames must be text");
    if (!this.servedHere(key)) return refuse(1012, "store moved; reconnect");
    if (this.take(key) > 0) return refuse(1008, `rate limit of ${this.ratePerMinute} messages per minute for this store`);
    const parsed = parseFrame(data);
    if ("error" in parsed) return refuse(1007, parsed.error);
    const forwarded = frame(clientId, parsed.remainder);
    const { to, message } = parsed;
    if (to === "") {
      for (const other of this.sockets(key)) if (other !== ws) other.send(forwarded);
    }
    if (to === "" || to === SERVER_CLIENT_ID) this.peer(key).receive?.(clientId, ...message);
    else if (to !== clientId) this.socket(key, to)?.send(forwarded);
    return key;
  }

  /** A socket closed: the store's server peer stops with its last socket. */
  closed(ws: WebSocket): void {
    const key = this.o.ctx.getTags(ws)[1];
    if (key !== undefined && this.sockets(key).every((s) => s === ws)) this.stopPeer(key);
  }

  /** Closes every socket of `key` (it moved, or is moving) and drops it from memory. */
  disconnect(key: string, code: number, reason: string): void {
    for (const ws of this.sockets(key)) ws.close(code, reason);
    this.forget(key);
  }

  /** Keys of open sockets or stores in memory, for closing those of slots that moved away. */
  liveKeys(): string[] {
    const keys = new Set(this.open.keys());
    for (const ws of this.o.ctx.getWebSockets()) {
      const key = this.o.ctx.getTags(ws)[1];
      if (key !== undefined) keys.add(key);
    }
    return [...keys];
  }

  // ---- internals ------------------------------------------------------------------------------

  private sockets(key: string): WebSocket[] {
    return this.o.ctx.getWebSockets(key).filter((ws) => this.o.ctx.getTags(ws)[1] === key);
  }

  private socket(key: string, clientId: string): WebSocket | undefined {
    return this.o.ctx.getWebSockets(clientId).find((ws) => this.o.ctx.getTags(ws)[1] === key);
  }

  /**
   * The store of `key`, read again when its row changed (a move, an import, a restore). It does
   * not consult the ledger: every entry point checks it once first (`serveStore`, `message`).
   */
  private store(key: string): OpenStore {
    const etag = this.etag(key);
    const cached = this.open.get(key);
    if (cached && cached.etag === etag) {
      // Most recently used last: the map's order is what the idle limit drops from.
      this.open.delete(key);
      this.open.set(key, cached);
      return cached;
    }
    if (cached) this.stopPeer(key);
    const store = createMergeableStore();
    if (etag !== EMPTY_ETAG) store.setMergeableContent(parseWithUndefined(this.sql.exec<{ content: string }>("SELECT content FROM stores WHERE key = ?", key).one().content) as MergeableContent);
    const open: OpenStore = { store, etag };
    store.addDidFinishTransactionListener(() => this.persist(key, open));
    this.open.delete(key);
    this.open.set(key, open);
    this.dropIdle();
    return open;
  }

  /** Writes a changed store and its outbox entries in one transaction. */
  private persist(key: string, open: OpenStore): void {
    const [tables, values] = open.store.getTransactionChanges();
    const tableIds = Object.keys(tables);
    if (tableIds.length === 0 && Object.keys(values).length === 0) return;
    if (!this.servedHere(key)) {
      // A peer applied a socket's change after the store stopped being served here: not kept.
      this.disconnect(key, 1012, "store moved; reconnect");
      return;
    }
    const [mergeableTables] = open.store.getTransactionMergeableChanges();
    const entries: OutboxEntry[] = [];
    for (const tableId of tableIds) {
      const rows = tables[tableId];
      const tableStamp = mergeableTables[0][tableId];
      if (rows === undefined) {
        entries.push({ key, tableId, rowId: null, cells: null, version: tableStamp?.[1] ?? "" });
        continue;
      }
      for (const rowId of Object.keys(rows)) {
        const cells = open.store.getRow(tableId, rowId);
        const rowStamp = tableStamp?.[0][rowId];
        let version = rowStamp?.[1] ?? "";
        for (const stamp of Object.values(rowStamp?.[0] ?? {})) if ((stamp?.[1] ?? "") > version) version = stamp![1]!;
        entries.push({ key, tableId, rowId, cells: Object.keys(cells).length === 0 ? null : JSON.stringify(cells), version });
      }
    }
    try {
      const content = stringifyWithUndefined(open.store.getMergeableContent());
      open.etag = this.o.ctx.storage.transactionSync(() => this.persistRow(key, content, rowsOf(open.store), entries));
    } catch (error) {
      // Too big a store: the change is not kept, and clients reload what was.
      if (!(error instanceof StoreRefusal)) throw error;
      this.failed = error;
      this.disconnect(key, 1009, "store too large to save");
      return;
    }
    // Not awaited: should setting the timer fail, the next write sets it.
    this.o.timers.ensure(DRAIN_TIMER, DRAIN_DELAY_MS).catch(() => {});
  }

  /** Writes a store's persisted form (`content`, TinyBase's JSON of its mergeable content) and its outbox entries. */
  private persistRow(key: string, content: string, rows: number, entries: readonly OutboxEntry[]): string {
    if (content.length > MAX_PERSISTED_CHARS) throw new StoreRefusal(413, `store would be ${content.length} characters, over ${MAX_PERSISTED_CHARS}`, "TooLarge");
    const etag = `"${crypto.randomUUID()}"`;
    this.sql.exec(
      `INSERT INTO stores (key, slot, content, etag, rows, updated_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (key) DO UPDATE SET content = excluded.content, etag = excluded.etag, rows = excluded.rows, updated_at = excluded.updated_at`,
      key,
      this.o.slotOf(key),
      content,
      etag,
      rows,
      Date.now(),
    );
    appendOutbox(this.sql, entries);
    return etag;
  }

  /** The store's server peer, started with its first socket (TinyBase's server client `S`). */
  private peer(key: string): OpenStore {
    const open = this.store(key);
    if (open.sync) return open;
    open.sync = createCustomSynchronizer(
      open.store,
      (toClientId, requestId, message, body) => {
        const out = frame(SERVER_CLIENT_ID, encodeMessage(requestId, message, body));
        if (toClientId === null) for (const ws of this.sockets(key)) ws.send(out);
        else this.socket(key, toClientId)?.send(out);
      },
      (receive) => (open.receive = receive),
      () => {},
      1,
    );
    open.sync.startSync().catch(() => {});
    return open;
  }

  private stopPeer(key: string): void {
    const open = this.open.get(key);
    if (!open?.sync) return;
    open.sync.destroy();
    open.sync = undefined;
    open.receive = undefined;
  }

  private forget(key: string): void {
    this.stopPeer(key);
    this.open.delete(key);
  }

  /** Drops the least recently used stores without a socket beyond {@link KEPT_IDLE}. */
  private dropIdle(): void {
    let idle = 0;
    for (const open of this.open.values()) if (!open.sync) idle++;
    for (const [key, open] of this.open) {
      if (idle <= KEPT_IDLE) break;
      if (open.sync) continue;
      this.open.delete(key);
      idle--;
    }
  }
}

const EMPTY_ETAG = '"empty"';
/** The copy of a store nobody wrote yet (made on first use: a store's id is random, and the global scope may not use randomness). */
let emptyCopy: string | undefined;
const EMPTY_COPY = () => (emptyCopy ??= stringifyWithUndefined(createMergeableStore().getMergeableContent()));

/** Rows in all tables of `store`, without copying its content. */
function rowsOf(store: MergeableStore): number {
  return store.getTableIds().reduce((n, table) => n + store.getRowCount(table), 0);
}

/** A refusal from the ledger as the store's answer, with the library's status for it: moving (503, retry) or elsewhere (409). */
export function ledgerRefusal(error: unknown): StoreRefusal | undefined {
  if (!(error instanceof ShardError) || (error.code !== "Migrating" && error.code !== "Migrated")) return undefined;
  return new StoreRefusal(errorStatus(error) as 409 | 503, error.message, error.code);
}
