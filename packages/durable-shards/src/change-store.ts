/**
 * The directory's `changes` table: each change's plan, status (`pending`, `committed`,
 * `rolled-back`) and durable record of phases and progress (`change-status.ts`).
 */
import type { ChangeRecord } from "./change-status.js";
import type { StoredPlan } from "./moves.js";

export class ChangeStore {
  constructor(private readonly sql: SqlStorage) {}

  /** Stores `plan` as the pending change of `keyspace`. */
  storePending(keyspace: string, plan: StoredPlan): void {
    const now = Date.now();
    this.sql.exec(
      "INSERT INTO changes (keyspace, version, status, plan, created_at, record, phase) VALUES (?, ?, 'pending', ?, ?, ?, 'planned')",
      keyspace,
      plan.map.version,
      JSON.stringify(plan),
      now,
      JSON.stringify(newRecord(keyspace, plan, now)),
    );
  }

  /** The plan of `keyspace`'s change that has not committed, if any. */
  pending(keyspace: string): StoredPlan | undefined {
    const row = this.sql.exec<{ plan: string }>("SELECT plan FROM changes WHERE keyspace = ? AND status = 'pending'", keyspace).toArray()[0];
    return row ? (JSON.parse(row.plan) as StoredPlan) : undefined;
  }

  /** The plan of `keyspace`'s change to `version`. */
  planOf(keyspace: string, version: number): StoredPlan | undefined {
    const row = this.sql.exec<{ plan: string }>("SELECT plan FROM changes WHERE keyspace = ? AND version = ?", keyspace, version).toArray()[0];
    return row ? (JSON.parse(row.plan) as StoredPlan) : undefined;
  }

  /** The stored record of the pending change `plan` (one made from the plan for changes stored before records). */
  recordOf(keyspace: string, plan: StoredPlan): ChangeRecord {
    const row = this.sql
      .exec<{ record: string | null; created_at: number }>("SELECT record, created_at FROM changes WHERE keyspace = ? AND version = ?", keyspace, plan.map.version)
      .toArray()[0];
    if (row?.record) return JSON.parse(row.record) as ChangeRecord;
    return newRecord(keyspace, plan, row?.created_at ?? Date.now());
  }

  /** The record of `keyspace`'s latest change, running or finished. */
  latestRecord(keyspace: string): ChangeRecord | undefined {
    const row = this.sql
      .exec<{ record: string | null; plan: string; created_at: number; status: string }>(
        "SELECT record, plan, created_at, status FROM changes WHERE keyspace = ? ORDER BY version DESC LIMIT 1",
        keyspace,
      )
      .toArray()[0];
    if (!row) return undefined;
    if (row.record) return JSON.parse(row.record) as ChangeRecord;
    const record = newRecord(keyspace, JSON.parse(row.plan) as StoredPlan, row.created_at);
    if (row.status === "committed") record.phase = "done";
    return record;
  }

  saveRecord(record: ChangeRecord): void {
    this.sql.exec("UPDATE changes SET record = ?, phase = ? WHERE keyspace = ? AND version = ?", JSON.stringify(record), record.phase, record.keyspace, record.version);
  }

  /** Marks `keyspace`'s change to `version` committed (or rolled back: its old map committed at its version). */
  markCommitted(keyspace: string, version: number, status: "committed" | "rolled-back"): void {
    this.sql.exec("UPDATE changes SET status = ?, committed_at = ? WHERE keyspace = ? AND version = ?", status, Date.now(), keyspace, version);
  }

  /** Keyspaces with a change that has not committed, or is still cleaning up. */
  unfinished(): string[] {
    return this.sql
      .exec<{ keyspace: string }>("SELECT DISTINCT keyspace FROM changes WHERE status = 'pending' OR phase = 'cleaning up' ORDER BY keyspace")
      .toArray()
      .map((r) => r.keyspace);
  }
}

/** The record of a change that has not run yet. */
function newRecord(keyspace: string, plan: StoredPlan, startedAt: number): ChangeRecord {
  return {
    keyspace,
    version: plan.map.version,
    phase: "planned",
    startedAt,
    updatedAt: startedAt,
    failedAttempts: 0,
    moves: plan.moves.map((m) => ({ from: m.from, to: m.to, ranges: m.ranges, phase: "planned" })),
    moveDurations: [],
  };
}
