/**
 * Named timers multiplexed onto the one alarm a Durable Object has.
 *
 * Timers live in SQLite, so they survive eviction. The alarm is always set to the earliest due
 * timer. Alarms are delivered at least once, so handlers must be idempotent; a handler that wants
 * to run again schedules itself again.
 */
import { ShardError } from "./errors.js";
import { migrate } from "./migrations.js";
import { parse } from "./schema.js";
import { z } from "zod";

const timerNameSchema = z.string().min(1, "must not be empty").max(128, "must be at most 128 characters");

/** Handlers by timer name; each receives the timer's payload. */
export type TimerHandlers = Record<string, (payload: unknown) => void | Promise<void>>;

const MIGRATIONS = [
  {
    version: 1,
    name: "timers",
    up: "CREATE TABLE _ds_timers (name TEXT PRIMARY KEY, due_at INTEGER NOT NULL, payload TEXT)",
  },
];

/** The timers of one object. Construct it in the object's constructor. */
export class Timers {
  constructor(private readonly storage: DurableObjectStorage) {
    migrate(storage, "durable-shards/timers", MIGRATIONS);
  }

  /**
   * Sets timer `name` to fire at `at` (epoch ms or Date), replacing an earlier setting of the same
   * name.
   */
  async schedule(name: string, at: number | Date, payload?: unknown): Promise<void> {
    const due = typeof at === "number" ? at : at.getTime();
    parse(timerNameSchema, name, "timer name");
    if (!Number.isFinite(due)) throw new ShardError("InvalidArgument", `timer '${name}' needs a finite time, got ${at}`);
    this.storage.sql.exec(
      "INSERT INTO _ds_timers (name, due_at, payload) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET due_at = excluded.due_at, payload = excluded.payload",
      name,
      due,
      payload === undefined ? null : JSON.stringify(payload),
    );
    await this.arm();
  }

  /** Sets timer `name` to fire `delayMs` from now. */
  after(name: string, delayMs: number, payload?: unknown): Promise<void> {
    return this.schedule(name, Date.now() + delayMs, payload);
  }

  /**
   * Sets timer `name` to fire `delayMs` from now unless it is already set. For periodic work such
   * as a sweep: every write may ask for it, and the first request's time stands (a later request
   * does not push it back).
   */
  async ensure(name: string, delayMs: number): Promise<void> {
    if (this.dueAt(name) === undefined) await this.after(name, delayMs);
  }

  /** Cancels timer `name` if set. */
  async cancel(name: string): Promise<void> {
    this.storage.sql.exec("DELETE FROM _ds_timers WHERE name = ?", name);
    await this.arm();
  }

  /** Names of every scheduled timer, earliest first (for handlers keyed by data-bearing names). */
  names(): string[] {
    return this.storage.sql.exec<{ name: string }>("SELECT name FROM _ds_timers ORDER BY due_at, name").toArray().map((r) => r.name);
  }

  /** When timer `name` is due, or `undefined` when it is not set. */
  dueAt(name: string): number | undefined {
    const rows = this.storage.sql.exec<{ due_at: number }>("SELECT due_at FROM _ds_timers WHERE name = ?", name).toArray();
    return rows[0]?.due_at;
  }

  /**
   * Runs every due timer through `handlers`; call it from the object's `alarm()`. A timer is
   * removed before its handler runs (unless the handler re-schedules it); if a handler throws,
   * the timer is put back and the error rethrown so the platform retries the alarm.
   * Timers without a handler are dropped.
   */
  async run(handlers: TimerHandlers, now = Date.now()): Promise<string[]> {
    const due = this.storage.sql
      .exec<{ name: string; due_at: number; payload: string | null }>(
        "SELECT name, due_at, payload FROM _ds_timers WHERE due_at <= ? ORDER BY due_at, name",
        now,
      )
      .toArray();
    const ran: string[] = [];
    try {
      for (const timer of due) {
        this.storage.sql.exec("DELETE FROM _ds_timers WHERE name = ? AND due_at = ?", timer.name, timer.due_at);
        const handler = handlers[timer.name];
        if (!handler) continue;
        try {
          await handler(timer.payload === null ? undefined : JSON.parse(timer.payload));
        } catch (error) {
          this.storage.sql.exec(
            "INSERT INTO _ds_timers (name, due_at, payload) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING",
            timer.name,
            timer.due_at,
            timer.payload,
          );
          throw error;
        }
        ran.push(timer.name);
      }
    } finally {
      await this.arm();
    }
    return ran;
  }

  /** Points the object's alarm at the earliest timer, or clears it. */
  private async arm(): Promise<void> {
    const next = this.storage.sql.exec<{ at: number | null }>("SELECT MIN(due_at) AS at FROM _ds_timers").one().at;
    if (next === null) {
      await this.storage.deleteAlarm();
      return;
    }
    const current = await this.storage.getAlarm();
    if (current !== next) await this.storage.setAlarm(next);
  }
}
