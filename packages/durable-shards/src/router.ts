/**
 * The router: sends each call to the shard that owns its key.
 *
 * Maps are cached per isolate (see {@link MapCache}); on the steady-state path a call is one hash,
 * one table lookup and one RPC, and the directory is not contacted. When a shard fences a call off
 * (a `WrongShard` failure value, see `result.ts`), the router refreshes the map and retries, a
 * bounded number of times. Platform errors follow the retry policy in `retry.ts` (new stub per
 * attempt, no retry on overload). Other failures are thrown to the caller as typed errors.
 */
import { ShardError, WrongShardError } from "./errors.js";
import { fanOut, type FanOutOptions, type FanOutOutcome, type FanOutResult } from "./fan-out.js";
import { DEFAULT_DIRECTORY_NAME, type CreateKeyspaceInput, type RoutingInfo } from "./directory.js";
import { invokeDirectory, type DirectoryNamespace } from "./directory-client.js";
import { errorOf, failureOf, isFailure, unwrap, type Failure } from "./result.js";
import { backoffDelay, retryAfter, sleep, withRetry, type RetryOptions } from "./retry.js";
import { z } from "zod";
import { MAX_KEYS_PER_CALL, MAX_KEY_CHARS_PER_CALL, checkKey, keyspaceNameSchema, parse, retryOptionsSchema, shardIdSchema } from "./schema.js";
import { ShardMap, type ShardInfo } from "./shard-map.js";
import { FENCE_HEADER, REFUSED_HEADER } from "./fence.js";
import { shardStub } from "./object-ids.js";
import type { ShardedObject } from "./sharded-object.js";

/** A cached routing entry. */
interface CachedRouting {
  info: { placement: "entity"; keyspace: string; version: number } | ShardMap;
  fetchedAt: number;
  /** Calls served since the clock was last read; see `ShardRouter.route`. */
  uses: number;
}

/**
 * Routing info cached per isolate. Routers share {@link defaultMapCache} unless given their own
 * (tests give separate caches to simulate separate isolates).
 */
export class MapCache {
  private readonly entries = new Map<string, CachedRouting>();
  private readonly loading = new Map<string, Promise<CachedRouting>>();

  get(key: string): CachedRouting | undefined {
    return this.entries.get(key);
  }

  /** Loads `key` once even when many calls ask at the same time. */
  async load(key: string, loader: () => Promise<CachedRouting>): Promise<CachedRouting> {
    const running = this.loading.get(key);
    if (running) return running;
    const promise = loader()
      .then((entry) => {
        const current = this.entries.get(key);
        // Never go back to an older version when answers arrive out of order.
        if (!current || versionOf(entry) >= versionOf(current)) this.entries.set(key, entry);
        return this.entries.get(key)!;
      })
      .finally(() => this.loading.delete(key));
    this.loading.set(key, promise);
    return promise;
  }

  /** Forgets every cached map. */
  clear(): void {
    this.entries.clear();
  }
}

function versionOf(entry: CachedRouting): number {
  return entry.info.version;
}

const DEFAULT_REFRESH_MS = 300_000;
const refreshSchema = z.union([z.number().min(0), z.literal(Number.POSITIVE_INFINITY)], { error: "must be a number of ms ≥ 0 or Infinity" });
const attemptsSchema = z.number().int().min(1).max(20);

/** The cache routers use by default: one per isolate. */
export const defaultMapCache = new MapCache();

/** Options of {@link ShardRouter}. */
export interface RouterOptions<T extends ShardedObject> {
  /** The directory's namespace (of the app's `class Directory extends ShardDirectory<Env>`). */
  directory: DirectoryNamespace;
  /** Name of the directory object. Default {@link DEFAULT_DIRECTORY_NAME}. */
  directoryName?: string;
  /** The namespace of the keyspace's objects. */
  namespace: DurableObjectNamespace<T>;
  keyspace: string;
  /** Cache of routing info; default the isolate-wide {@link defaultMapCache}. */
  cache?: MapCache;
  /** Maps older than this are refreshed before use. Default 5 minutes; `Infinity` never. */
  refreshIntervalMs?: number;
  /** Attempts when shards fence calls off (each after a map refresh), 1 … 20. Default 5. */
  maxRoutingAttempts?: number;
  /** Policy for platform errors; see `retry.ts`. */
  retry?: RetryOptions;
  /**
   * How to create the keyspace when the directory does not know it (`binding`, `placement`,
   * `slotCount`, `shards`, as for `createKeyspace`). Without it, an unknown keyspace is an error.
   */
  ensure?: Omit<CreateKeyspaceInput, "name">;
}

type AnyFunction = (...args: never[]) => unknown;
type OwnMethods<T> = {
  [K in Exclude<keyof T, keyof ShardedObject>]: T[K] extends AnyFunction ? K : never;
}[Exclude<keyof T, keyof ShardedObject>];

/** A key's view of a keyspace object: its per-key methods without the leading key parameter. */
export type KeyClient<T> = {
  [K in OwnMethods<T>]: T[K] extends (key: string, ...args: infer A) => infer R ? (...args: A) => Promise<Awaited<R>> : never;
};

/** A whole shard's view of a keyspace object: its methods as they are declared. */
export type ShardClient<T> = {
  [K in OwnMethods<T>]: T[K] extends (...args: infer A) => infer R ? (...args: A) => Promise<Awaited<R>> : never;
};

/** The RPC surface the router uses; kept narrow so typing stubs stays cheap. */
interface ShardRpc {
  routedCall(keyspace: string, shard: string | null, key: string, version: number, method: string, ...args: unknown[]): Promise<unknown>;
  shardCall(keyspace: string, shard: string, version: number, method: string, ...args: unknown[]): Promise<unknown>;
  keysCall(keyspace: string, shard: string, keys: string[], method: string, ...args: unknown[]): Promise<unknown>;
}

/** `error` typed where it is one of ours. */
function typed(error: unknown): unknown {
  return ShardError.from(error) ?? error;
}

/**
 * A thrown refusal as the failure value current shards return (a shard still on an older version
 * of the library, during a gradual deployment, throws it); any other error is rethrown typed.
 */
function thrownRefusal(error: unknown): Failure {
  const refusal = typed(error);
  if (refusal instanceof WrongShardError) return failureOf(refusal);
  throw refusal;
}

/** The refusal `result` carries; a failure of any other kind is thrown as its typed error. */
function refusalOf(result: Failure): WrongShardError {
  const error = errorOf(result);
  if (error instanceof WrongShardError) return error;
  throw error;
}

/** Routes calls of one keyspace. Cheap to construct; construct one per request if convenient. */
export class ShardRouter<T extends ShardedObject> {
  readonly keyspace: string;
  private readonly cache: MapCache;
  private readonly cacheKey: string;

  private readonly retry: RetryOptions;
  /** The retry policy of directory reads, which may run twice. */
  private readonly directoryRetry: RetryOptions;
  private readonly refreshMs: number;
  private readonly maxAttempts: number;

  constructor(private readonly options: RouterOptions<T>) {
    this.keyspace = parse(keyspaceNameSchema, options.keyspace, "keyspace");
    this.retry = parse(retryOptionsSchema, options.retry ?? {}, "retry") as RetryOptions;
    this.directoryRetry = { ...this.retry, idempotent: true };
    this.refreshMs = parse(refreshSchema, options.refreshIntervalMs ?? DEFAULT_REFRESH_MS, "refreshIntervalMs");
    this.maxAttempts = parse(attemptsSchema, options.maxRoutingAttempts ?? 5, "maxRoutingAttempts");
    this.cache = options.cache ?? defaultMapCache;
    this.cacheKey = `${options.directoryName ?? DEFAULT_DIRECTORY_NAME}/${this.keyspace}`;
  }

  /** A client whose methods run on the object that owns `key`. */
  get(key: string): KeyClient<T> {
    const k = checkKey(key);
    return methodsOf<KeyClient<T>>((method, args) => this.route(k, method, args));
  }

  /** Calls `method(key, ...args)` on the owner of `key`. */
  call(key: string, method: string, args: unknown[] = []): Promise<unknown> {
    return this.route(checkKey(key), method, args);
  }

  /**
   * Forwards `request` to the object serving `key` (a WebSocket upgrade, or HTTP the object answers
   * itself), fenced like a call: the object checks the fence with `ShardedObject.fencedRequest`,
   * and a refusal makes the router refresh its map and forward again. The body is read once and
   * sent with each attempt, so keep it small. Platform errors are not retried (a request may not
   * be idempotent).
   */
  async fetch(key: string, request: Request): Promise<Response> {
    const k = checkKey(key);
    const body = request.body === null ? undefined : await request.arrayBuffer();
    return this.routeLoop(
      k,
      undefined,
      (newStub, shardId, version) => {
        const headers = new Headers(request.headers);
        headers.set(FENCE_HEADER, JSON.stringify({ keyspace: this.keyspace, shard: shardId, key: k, version }));
        return (newStub() as unknown as Fetcher).fetch(request.url, { method: request.method, headers, body });
      },
      async (response) => (response.status === 421 && response.headers.get(REFUSED_HEADER) !== null ? refusalOf((await response.json()) as Failure) : undefined),
    );
  }

  // ---- internals ------------------------------------------------------------------------------

  private route(k: string, method: string, args: unknown[]): Promise<unknown> {
    const cached = this.cache.get(this.cacheKey);
    // The clock is read on every 64th call only: the refresh interval is a soft bound (fencing, not
    // the interval, keeps routing correct) and reading the clock is a measurable part of a call.
    if (cached && cached.info instanceof ShardMap && ((++cached.uses & 63) !== 0 || Date.now() - cached.fetchedAt < this.refreshMs)) {
      // Steady state: one hash, one lookup, one RPC, and a single handler that only runs when the
      // call fails (then the retry policy, then the refusal loop, take over).
      const map = cached.info;
      const shard = map.shardOfKey(k);
      const settled = (result: unknown) => (isFailure(result) ? this.reroute(k, method, args, refusalOf(result)) : result);
      return this.shardStub(shard)
        .routedCall(this.keyspace, shard.id, k, map.version, method, ...args)
        .then(settled, (error: unknown) =>
          retryAfter(
            error,
            () => this.shardStub(shard),
            (stub) => stub.routedCall(this.keyspace, shard.id, k, map.version, method, ...args),
            this.retry,
          ).then(settled, (failure: unknown) => settled(thrownRefusal(failure))),
        );
    }
    return this.reroute(k, method, args, undefined);
  }

  /** The routing loop of a call: refresh after each refusal, back off while a move is in flight. */
  private reroute(k: string, method: string, args: unknown[], refusal: WrongShardError | undefined): Promise<unknown> {
    return this.routeLoop(
      k,
      refusal,
      (newStub, shardId, version) => this.callOn(newStub, shardId, version, k, method, args),
      (result) => (isFailure(result) ? refusalOf(result) : undefined),
    );
  }

  /**
   * Sends to `k`'s object until it is not refused (`refused` returns the refusal of a result):
   * after a refusal naming where the slot went, there first (once); otherwise with routing info
   * refreshed after each refusal, backing off when the refusals repeat (a move is in flight).
   */
  private async routeLoop<R>(
    k: string,
    first: WrongShardError | undefined,
    send: (newStub: () => ShardRpc, shardId: string | null, version: number) => Promise<R>,
    refused: (result: R) => WrongShardError | undefined | Promise<WrongShardError | undefined>,
  ): Promise<R> {
    const maxAttempts = this.maxAttempts;
    let lastRefusal = first;
    let followed = false;
    for (let attempt = first ? 2 : 1; attempt <= maxAttempts; attempt++) {
      let result: R;
      // The slot's old owner named the shard it went to. That shard serves it from its acquire on,
      // while the directory still hands out the old map until the whole change commits; so go
      // there first (once per call: a refusal from it falls back to the map).
      const movedTo = lastRefusal?.movedTo;
      if (movedTo !== undefined && !followed) {
        followed = true;
        result = await send(() => this.namedStub(movedTo), movedTo, lastRefusal!.mapVersion);
      } else {
        // A refusal at a version we already hold means a move is in flight: give it a moment.
        if (attempt > 2) await sleep(backoffDelay(attempt - 2, { baseDelayMs: 20, ...this.retry }));
        const info = await this.routing(lastRefusal !== undefined);
        if (info instanceof ShardMap) {
          const shard = info.shardOfKey(k);
          result = await send(() => this.shardStub(shard), shard.id, info.version);
        } else {
          result = await send(() => this.namedStub(k), null, info.version);
        }
      }
      const refusal = await refused(result);
      if (refusal === undefined) return result;
      lastRefusal = refusal;
    }
    throw new ShardError("RetriesExhausted", `key '${truncate(k)}' of '${this.keyspace}' was refused ${maxAttempts} times: ${lastRefusal?.detail}`, {
      retryable: true,
      cause: lastRefusal,
    });
  }

  /**
   * A routed call on the object `newStub` reaches (platform errors retried per the policy, each
   * with a new stub); resolves to the call's result, which may be a failure.
   */
  private callOn(newStub: () => ShardRpc, shardId: string | null, version: number, k: string, method: string, args: unknown[]): Promise<unknown> {
    return withRetry(newStub, (stub) => stub.routedCall(this.keyspace, shardId, k, version, method, ...args), this.retry).catch(thrownRefusal);
  }

  /** A client whose methods run on shard `shardId` as a whole. */
  shard(shardId: string): ShardClient<T> {
    const id = parse(shardIdSchema, shardId, "shardId");
    return methodsOf<ShardClient<T>>(async (method, args) => this.callShard(await this.hashMap(), id, method, args));
  }

  /**
   * Runs `call` on every shard. When a shard reports that the map changed under the fan-out, the
   * map is refreshed and the fan-out runs once more; failures after that stay in the result.
   */
  async all<R>(call: (shard: ShardClient<T>, shardId: string) => Promise<R>, options: FanOutOptions = {}): Promise<FanOutResult<R>> {
    let map = await this.hashMap();
    let result = await this.fanOver(map, map.shards.map((s) => s.id), call, options);
    if (result.results.some((r) => !r.ok && r.error instanceof WrongShardError)) {
      map = await this.hashMap(true);
      result = await this.fanOver(map, map.shards.map((s) => s.id), call, options);
    }
    return result;
  }

  /**
   * Runs `call` on each shard that owns at least one of `keys`, with the keys it owns, in groups
   * of at most {@link MAX_KEYS_PER_CALL} keys (and 1,000,000 characters of keys). Each shard runs
   * a call only if it serves every key of the group. While a change runs, the directory still hands out the old map; a group refused because
   * some of its keys moved is sent again where each key went (as the refusing shard says, else by
   * a refreshed map), up to `maxRoutingAttempts` rounds, so writes go on through the change. The
   * result lists one outcome per group sent, so a shard may appear more than once; a group still
   * refused after the last round stays in it with its `WrongShard` error. `deadlineMs` applies to
   * each round.
   *
   * Warning: a refused group runs `call` again, on its keys' new shards. So `call` should make one
   * shard call, idempotent for its keys, and let a `WrongShard` error through (a callback that
   * catches it gets no second round).
   */
  async some<R>(
    keys: readonly string[],
    call: (shard: ShardClient<T>, keys: string[], shardId: string) => Promise<R>,
    options: FanOutOptions = {},
  ): Promise<FanOutResult<R>> {
    let map = await this.hashMap();
    const checked = keys.map((key) => checkKey(key));
    let groups = groupBy(checked, (key) => map.shardOfKey(key).id);
    const outcomes: FanOutOutcome<R>[] = [];
    for (let round = 1; ; round++) {
      const sent = [...groups].flatMap(([id, group]) => callGroups(group).map((part) => ({ id, keys: part })));
      const result = await fanOut(
        sent.map((g) => g.id),
        (id, i) => call(this.keysClient(map, id, sent[i]!.keys), sent[i]!.keys, id),
        options,
      );
      const refused: { keys: string[]; owners: readonly (string | null)[] }[] = [];
      result.results.forEach((outcome, i) => {
        const error = outcome.ok ? undefined : outcome.error;
        if (error instanceof WrongShardError && round < this.maxAttempts) refused.push({ keys: sent[i]!.keys, owners: error.owners ?? [] });
        else outcomes.push(outcome);
      });
      if (refused.length === 0) break;
      // Refused again: a move is cutting over (its slots are served nowhere for a moment).
      if (round > 1) await sleep(backoffDelay(round - 1, { baseDelayMs: 20, ...this.retry }));
      if (refused.some((g) => g.keys.some((_, j) => !g.owners[j]))) map = await this.hashMap(true);
      groups = new Map();
      for (const g of refused) g.keys.forEach((key, j) => push(groups, g.owners[j] ?? map.shardOfKey(key).id, key));
    }
    return { results: outcomes, complete: outcomes.every((o) => o.ok), mapVersion: map.version };
  }

  /** The current map (fetching it when not cached). */
  async map(): Promise<ShardMap> {
    return this.hashMap();
  }

  /** Fetches routing info from the directory if it changed since the cached version. */
  async refresh(): Promise<void> {
    await this.fetchRouting(this.cache.get(this.cacheKey)?.info.version);
  }

  private async fanOver<R>(
    map: ShardMap,
    shardIds: string[],
    call: (shard: ShardClient<T>, shardId: string) => Promise<R>,
    options: FanOutOptions,
  ): Promise<FanOutResult<R>> {
    const result = await fanOut(
      shardIds,
      (id) => {
        return call(methodsOf<ShardClient<T>>((method, args) => this.callShard(map, id, method, args)), id);
      },
      options,
    );
    return { ...result, mapVersion: map.version };
  }

  private callShard(map: ShardMap, shardId: string, method: string, args: unknown[]): Promise<unknown> {
    const shard = map.shards.find((s) => s.id === shardId);
    if (!shard) throw new ShardError("UnknownShard", `shard '${shardId}' is not in map version ${map.version} of '${this.keyspace}'`);
    return this.invoke(() => this.shardStub(shard), (stub) => stub.shardCall(this.keyspace, shardId, map.version, method, ...args));
  }

  /** A shard's client for `keys` (router.some): its calls carry the keys, which the shard checks. */
  private keysClient(map: ShardMap, shardId: string, keys: string[]): ShardClient<T> {
    // A shard a refusal named may be new in the running change, so not in the map yet.
    const shard = map.shards.find((s) => s.id === shardId);
    const newStub = () => (shard ? this.shardStub(shard) : this.namedStub(shardId));
    return methodsOf<ShardClient<T>>((method, args) => this.invoke(newStub, (stub) => stub.keysCall(this.keyspace, shardId, keys, method, ...args)));
  }

  /** `call` on the object `newStub` reaches, platform errors retried per the policy; its failure thrown typed. */
  private async invoke(newStub: () => ShardRpc, call: (stub: ShardRpc) => Promise<unknown>): Promise<unknown> {
    let result: unknown;
    try {
      result = await withRetry(newStub, call, this.retry);
    } catch (error) {
      throw typed(error);
    }
    return unwrap(result);
  }

  private async hashMap(force = false): Promise<ShardMap> {
    const info = await this.routing(force);
    if (!(info instanceof ShardMap)) throw new ShardError("InvalidArgument", `keyspace '${this.keyspace}' uses entity placement and has no shards`);
    return info;
  }

  /** Cached routing info, asked of the directory when missing, stale, or `force`d after a refusal. */
  private async routing(force: boolean): Promise<CachedRouting["info"]> {
    const cached = this.cache.get(this.cacheKey);
    const interval = this.refreshMs;
    if (cached && !force && Date.now() - cached.fetchedAt < interval) {
      return cached.info;
    }
    return (await this.fetchRouting(cached?.info.version)).info;
  }

  private fetchRouting(knownVersion: number | undefined): Promise<CachedRouting> {
    return this.cache.load(this.cacheKey, async () => {
      const directory = this.options.directory;
      const name = this.options.directoryName ?? DEFAULT_DIRECTORY_NAME;
      // Both calls are idempotent, so they are retried (NotInitialized, and a directory reset mid-call, included).
      const retry = this.directoryRetry;
      const getMap = (known?: number) => invokeDirectory(directory, name, "getMap", [this.keyspace, known], retry) as Promise<RoutingInfo | null>;
      let info: RoutingInfo | null;
      try {
        info = await getMap(knownVersion);
      } catch (error) {
        if (!(error instanceof ShardError) || error.code !== "UnknownKeyspace" || !this.options.ensure) throw error;
        await invokeDirectory(directory, name, "ensureKeyspace", [{ ...this.options.ensure, name: this.keyspace }], retry);
        info = await getMap();
      }
      const cached = this.cache.get(this.cacheKey);
      if (info === null && cached) return { info: cached.info, fetchedAt: Date.now(), uses: 0 };
      if (info === null) throw new ShardError("UnknownKeyspace", `directory returned no map for '${this.keyspace}'`);
      return {
        info: info.placement === "entity" ? info : ShardMap.fromSnapshot(info),
        fetchedAt: Date.now(),
        uses: 0,
      };
    });
  }

  /** The object named `<keyspace>:<name>`: an entity's key, or a shard named by a refusal (no cached id for either). */
  private namedStub(name: string): ShardRpc {
    return this.options.namespace.getByName(`${this.keyspace}:${name}`) as unknown as ShardRpc;
  }

  private shardStub(shard: ShardInfo): ShardRpc {
    return shardStub(this.options.namespace, this.keyspace, shard) as unknown as ShardRpc;
  }
}

/** A client whose every method `name(...args)` is `call(name, args)`. */
function methodsOf<C>(call: (method: string, args: unknown[]) => Promise<unknown>): C {
  return new Proxy({} as object, {
    get: (_, method) => (typeof method === "string" ? (...args: unknown[]) => call(method, args) : undefined),
  }) as C;
}

/** `items` grouped by `keyOf`, groups in first-seen order. */
function groupBy(items: readonly string[], keyOf: (item: string) => string): Map<string, string[]> {
  const groups = new Map<string, string[]>();
  for (const item of items) push(groups, keyOf(item), item);
  return groups;
}

/**
 * `keys` in pieces one call carries: at most {@link MAX_KEYS_PER_CALL} keys and about
 * {@link MAX_KEY_CHARS_PER_CALL} characters, since the caller usually passes them again as an
 * argument and an RPC message has a size limit.
 */
function callGroups(keys: string[]): string[][] {
  const pieces: string[][] = [[]];
  let chars = 0;
  for (const key of keys) {
    const last = pieces[pieces.length - 1]!;
    if (last.length > 0 && (last.length >= MAX_KEYS_PER_CALL || chars + key.length > MAX_KEY_CHARS_PER_CALL)) {
      pieces.push([key]);
      chars = key.length;
    } else {
      last.push(key);
      chars += key.length;
    }
  }
  return pieces;
}

function push(groups: Map<string, string[]>, key: string, item: string): void {
  const group = groups.get(key);
  if (group) group.push(item);
  else groups.set(key, [item]);
}

function truncate(key: string): string {
  return key.length > 40 ? `${key.slice(0, 40)}…` : key;
}
