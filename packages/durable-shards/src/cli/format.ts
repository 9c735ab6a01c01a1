/** How the CLI prints what the admin API answers, for people (`--json` prints it as it came). */

export function table(rows: (string | number)[][], header: string[]): string {
  const all = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...all.map((r) => String(r[i] ?? "").length)));
  return all.map((r) => r.map((cell, i) => String(cell).padEnd(widths[i]!)).join("  ").trimEnd()).join("\n");
}

export function number(n: number): string {
  return n >= 100 ? Math.round(n).toLocaleString("en-US") : Number(n.toPrecision(3)).toString();
}

export function bytes(n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(1)} GiB`;
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

export function duration(ms: number): string {
  const s = Math.ceil(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s` : `${s}s`;
}

/** A change's plan (dry run) or start: its moves and predicted balance. */
export function plan(result: { dryRun?: boolean; started?: boolean; version: number; movedSlots: number; moves: { from: string; to: string; slots: number }[]; predicted?: { by: string; before: number; after: number }; hotSlots?: { slot: number; shard: string; keys: string[] }[] }): string {
  const head = result.dryRun ? `plan (dry run, nothing changed): map version ${result.version}` : result.started ? `started: change to map version ${result.version}` : `nothing to do: map version ${result.version}`;
  const lines = [head, `${result.moves.length} moves, ${number(result.movedSlots)} slots`];
  if (result.predicted) lines.push(`predicted heaviest/mean by ${result.predicted.by}: ${result.predicted.before.toFixed(2)} → ${result.predicted.after.toFixed(2)}`);
  if (result.moves.length > 0) lines.push(table(result.moves.map((m) => [m.from, "→", m.to, number(m.slots)]), ["from", "", "to", "slots"]));
  for (const h of result.hotSlots ?? []) lines.push(`hot slot ${h.slot} on ${h.shard}, too heavy to balance by moving: ${h.keys.join(", ") || "(keys unknown)"}`);
  return lines.join("\n");
}
