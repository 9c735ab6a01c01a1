/**
 * The migration's control object: the feature flag (which side stores are served from) and the
 * sweep that moves the stores nobody touched. The three strategies are the same machinery:
 * - big bang: the flag goes to `sharded` and an operator's CLI drives the sweep page by page,
 *   with a progress bar, then verifies;
 * - gradual: the flag goes to `sharded`; stores move on first access and a background sweep moves
 *   the rest at a set rate;
 * - feature flag: `sharded` and back to `legacy` at will; switching back moves the stores (with
 *   the writes made on the sharded side) the same way, in the other direction.
 * The sweep's cursor is stored after every page, so it resumes after a crash; each store's move is
 * idempotent (`migrateKey`), so a page run twice moves nothing twice.
 */
import { DurableObject } from "cloudflare:workers";
import { sweepKeys } from "durable-shards";
import { z } from "zod";
import type { Env } from "./env.js";
import { deploymentOf, type Deployment } from "./deployment.js";
import { setUpOperations } from "./operations.js";
import { MAX_PASSES, sideSchema, type MigrationStatus, type SweepStatus } from "./migration-status.js";
import { Stores, type Side } from "./stores.js";

export const setFlagSchema = z.strictObject({
  flag: sideSchema,
  /** Start a background sweep toward the flag's side (the gradual strategy). */
  sweep: z.enum(["background", "none"]).optional(),
  usersPerSecond: z.number().int().min(1).max(1000).optional(),
});

/** Most stores one sweep page moves. */
const MAX_PAGE = 500;

export class MigrationControl extends DurableObject<Env> {
  // The deployment this object acts for, as the Worker last described it (its alarm has no caller).
  private deployment(d?: Deployment): Deployment {
    const known = this.ctx.storage.kv.get<Deployment>("deployment");
    if (d && JSON.stringify(d) !== JSON.stringify(known)) this.ctx.storage.kv.put("deployment", d);
    return d ?? known ?? deploymentOf(this.env);
  }

  private stores(d: Deployment): Stores {
    return new Stores(this.env, d);
  }

  async flag(d: Deployment): Promise<Side> {
    return this.flagOf(this.deployment(d));
  }

  /** The flag, for a deployment already read (and stored) with {@link deployment}. */
  private async flagOf(known: Deployment): Promise<Side> {
    // Once per keyspace: its alert thresholds and backup schedule (the Worker asks for the flag first).
    // Tried again a minute after a failure, not on every read.
    const id = known.instance + known.placement;
    if (this.ctx.storage.kv.get("operations") !== id && Date.now() - (this.ctx.storage.kv.get<number>("operationsTriedAt") ?? 0) > 60_000) {
      this.ctx.storage.kv.put("operationsTriedAt", Date.now());
      if (await setUpOperations(this.env, known).catch(() => false)) this.ctx.storage.kv.put("operations", id);
    }
    return this.flagNow(known);
  }

  private flagNow(d: Deployment): Side {
    return this.ctx.storage.kv.get<Side>("flag") ?? (d.sharding ? "sharded" : "legacy");
  }

  async status(d: Deployment): Promise<MigrationStatus> {
    return { flag: await this.flag(d), sweep: this.ctx.storage.kv.get<SweepStatus>("sweep") ?? null, legacy: await this.stores(d).legacy.counts() };
  }

  /** Switches the flag; with `sweep: "background"` a sweep toward it starts (a sweep the other way stops). */
  async setFlag(d: Deployment, input: z.infer<typeof setFlagSchema>): Promise<MigrationStatus> {
    const { flag, sweep, usersPerSecond } = setFlagSchema.parse(input);
    const was = await this.flag(d);
    this.ctx.storage.kv.put("flag", flag);
    const current = this.ctx.storage.kv.get<SweepStatus>("sweep");
    if (sweep === "background" || (current && current.to !== flag) || was !== flag) {
      const next = this.fresh(flag, sweep === "background", usersPerSecond ?? current?.usersPerSecond ?? 20);
      this.ctx.storage.kv.put("sweep", next);
      if (next.background) await this.ctx.storage.setAlarm(Date.now());
    }
    return this.status(d);
  }

  /** Moves one page of stores toward the flag's side now (the big bang's CLI calls it until done). */
  async sweepPage(d: Deployment, pageSize: number): Promise<SweepStatus> {
    const size = z.number().int().min(1).max(MAX_PAGE).parse(pageSize);
    const deployment = this.deployment(d);
    const flag = await this.flagOf(deployment);
    let sweep = this.ctx.storage.kv.get<SweepStatus>("sweep");
    if (!sweep || sweep.to !== flag) sweep = this.fresh(flag, false, 20);
    if (sweep.done) return sweep;
    const stores = this.stores(deployment);
    let pages = 0;
    const page = await sweepKeys({
      keys: (after, limit) => (flag === "sharded" ? stores.legacy.keysHere(after, limit) : stores.legacy.keysElsewhere(after, limit)),
      migrate: (key) => stores.moveTo(flag, key),
      after: sweep.cursor,
      pageSize: size,
      concurrency: 16,
      stopped: () => pages++ >= 1,
    });
    // The flag may have changed while the page ran: that sweep is over, this one is not stored.
    if (this.flagNow(deployment) !== flag) return sweep;
    // Other calls ran meanwhile: a newer sweep replaced this one (leave it), or this one was
    // stopped (keep that); only the progress is this page's to add.
    const latest = this.ctx.storage.kv.get<SweepStatus>("sweep");
    if (latest && latest.startedAt > sweep.startedAt) return latest;
    const base = latest?.startedAt === sweep.startedAt ? latest : sweep;
    const passFailed = base.passFailed + page.failed.length;
    // A pass that had failures is followed by another (from the start), up to MAX_PASSES.
    const again = page.done && passFailed > 0 && base.pass < MAX_PASSES;
    const next: SweepStatus = {
      ...base,
      cursor: again ? null : page.cursor,
      migrated: base.migrated + page.migrated,
      failed: [...base.failed, ...page.failed].slice(-20),
      pass: again ? base.pass + 1 : base.pass,
      passFailed: again ? 0 : passFailed,
      done: page.done && !again,
      updatedAt: Date.now(),
    };
    this.ctx.storage.kv.put("sweep", next);
    return next;
  }

  /** Stops a background sweep (its cursor stays: setting the flag with `sweep: "background"` again starts over, harmlessly). */
  async stopSweep(d: Deployment): Promise<MigrationStatus> {
    const sweep = this.ctx.storage.kv.get<SweepStatus>("sweep");
    if (sweep) this.ctx.storage.kv.put("sweep", { ...sweep, background: false });
    await this.ctx.storage.deleteAlarm();
    return this.status(d);
  }

  // A background sweep: a page of `usersPerSecond` stores each second until done.
  override async alarm(): Promise<void> {
    const sweep = this.ctx.storage.kv.get<SweepStatus>("sweep");
    if (!sweep?.background || sweep.done) return;
    const started = Date.now();
    const next = await this.sweepPage(this.deployment(), Math.min(sweep.usersPerSecond, MAX_PAGE));
    if (next.background && !next.done) await this.ctx.storage.setAlarm(Math.max(Date.now(), started + 1000));
  }

  private fresh(to: Side, background: boolean, usersPerSecond: number): SweepStatus {
    const now = Date.now();
    return { to, background, usersPerSecond, cursor: null, migrated: 0, failed: [], pass: 1, passFailed: 0, done: false, startedAt: now, updatedAt: now };
  }
}

const cached = new Map<string, { flag: Side; at: number }>();

/** The flag, as this isolate last read it (at most FLAG_CACHE_MS old). */
export async function currentFlag(env: Env): Promise<Side> {
  const ttl = Number(env.FLAG_CACHE_MS ?? 1000);
  const d = deploymentOf(env);
  const known = cached.get(d.instance);
  if (known && Date.now() - known.at < ttl) return known.flag;
  const flag = await controlOf(env).flag(d);
  cached.set(d.instance, { flag, at: Date.now() });
  return flag;
}

/** Forgets the cached flag (after this isolate switched it). */
export function forgetFlag(): void {
  cached.clear();
}

/** The deployment's control object. */
export function controlOf(env: Env): DurableObjectStub<MigrationControl> {
  return env.CONTROL.getByName(`migration${deploymentOf(env).instance}`);
}
