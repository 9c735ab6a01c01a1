/**
 * How big rows are, counted the same way everywhere a move measures them (pages, catch-up, the
 * totals a source reports): the lengths of strings and blobs, 8 bytes for any other value. Cheap,
 * and close to what SQLite stores; no serialisation.
 */

/** Approximate size of one row. */
export function rowBytes(row: Readonly<Record<string, unknown>>): number {
  let bytes = 0;
  for (const value of Object.values(row)) {
    bytes += typeof value === "string" ? value.length : value instanceof ArrayBuffer ? value.byteLength : 8;
  }
  return bytes;
}

/** Rows and approximate bytes of rows grouped by table. */
export function sizeOf(data: Readonly<Record<string, readonly Readonly<Record<string, unknown>>[]>>): { rows: number; bytes: number } {
  let rows = 0;
  let bytes = 0;
  for (const table of Object.values(data)) {
    rows += table.length;
    for (const row of table) bytes += rowBytes(row);
  }
  return { rows, bytes };
}

/** The same size as {@link rowBytes}, as a SQL expression over the rows of `table`. */
export function rowSizeExpression(sql: SqlStorage, table: string): string {
  const columns = sql.exec<{ name: string }>(`PRAGMA table_info(${table})`).toArray().map((c) => c.name);
  return columns.map((c) => `(CASE WHEN typeof(${c}) IN ('text', 'blob') THEN LENGTH(${c}) ELSE 8 END)`).join(" + ");
}
