/** What D1 answers across users: statistics (with the sync lag) and search. */
import { ensureD1 } from "./outbox.js";

/** Users and todos in D1, and the sync lag (write in a store → row in D1) of the latest 10,000 rows. */
export async function syncStats(db: D1Database): Promise<{ users: number; rows: number; deleted: number; lagMs: { p50: number; p99: number; max: number; samples: number } }> {
  await ensureD1(db);
  const totals = await db.prepare("SELECT COUNT(DISTINCT store_key) AS users, SUM(deleted = 0) AS rows, SUM(deleted) AS deleted FROM todos").first<{ users: number; rows: number | null; deleted: number | null }>();
  const lags = (await db.prepare("SELECT synced_at - written_at AS lag FROM todos ORDER BY synced_at DESC LIMIT 10000").all<{ lag: number }>()).results.map((r) => r.lag).sort((a, b) => a - b);
  const at = (q: number) => (lags.length === 0 ? 0 : lags[Math.min(lags.length - 1, Math.floor(q * lags.length))]!);
  return {
    users: totals?.users ?? 0,
    rows: totals?.rows ?? 0,
    deleted: totals?.deleted ?? 0,
    lagMs: { p50: at(0.5), p99: at(0.99), max: lags.at(-1) ?? 0, samples: lags.length },
  };
}

/** Live rows whose cells contain `q`, across every user (an operator's search). */
export async function searchTodos(db: D1Database, q: string, limit: number): Promise<{ results: { key: string; table: string; row: string; cells: unknown }[] }> {
  await ensureD1(db);
  const pattern = `%${q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
  const rows = await db
    .prepare("SELECT store_key, table_id, row_id, cells FROM todos WHERE deleted = 0 AND cells LIKE ? ESCAPE '\\' ORDER BY store_key, row_id LIMIT ?")
    .bind(pattern, limit)
    .all<{ store_key: string; table_id: string; row_id: string; cells: string }>();
  return { results: rows.results.map((r) => ({ key: r.store_key, table: r.table_id, row: r.row_id, cells: JSON.parse(r.cells) })) };
}
