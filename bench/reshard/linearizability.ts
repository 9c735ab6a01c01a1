/**
 * A per-key linearizability check of a counter's history, in the spirit of Porcupine but exact
 * for this one data type: increments that return the new count, and reads that return the count.
 *
 * For a counter, the returned values fix the order of the successful increments, so no search is
 * needed: a history is linearizable iff the values are distinct, no increment that finished before
 * another started returned the larger value, and every read lies between the increments that
 * finished before it started and those that started after it finished. An increment that failed
 * (the object was reset mid-call) may or may not have been applied; it may fill one gap.
 */

/** One operation as a client saw it: when it was invoked and completed, and what it returned. */
export interface Op {
  key: string;
  kind: "inc" | "read";
  invoke: number;
  complete: number;
  ok: boolean;
  value?: number;
}

export interface KeyVerdict {
  violations: string[];
  /** Acknowledged increments missing from the final count. */
  lost: number;
  /** Increments counted more often than they were sent. */
  doubled: number;
}

/** Checks the history `ops` of one key against its `final` count and the number of increment ids it recorded. */
export function checkKey(key: string, ops: Op[], final: number, recordedIds: number): KeyVerdict {
  const violations: string[] = [];
  const incs = ops.filter((o) => o.kind === "inc" && o.ok).sort((a, b) => a.value! - b.value!);
  const ambiguous = ops.filter((o) => o.kind === "inc" && !o.ok).length;
  const reads = ops.filter((o) => o.kind === "read" && o.ok);

  for (let i = 1; i < incs.length; i++) {
    if (incs[i]!.value === incs[i - 1]!.value) violations.push(`${key}: two increments returned ${incs[i]!.value}`);
  }
  // Real time: an increment that completed before another was invoked returned the smaller value.
  let laterMinComplete = Infinity;
  for (let i = incs.length - 1; i >= 0; i--) {
    const op = incs[i]!;
    if (laterMinComplete < op.invoke) violations.push(`${key}: an increment returned more than ${op.value} but completed before the one returning ${op.value} began`);
    laterMinComplete = Math.min(laterMinComplete, op.complete);
  }
  const highest = incs.at(-1)?.value ?? 0;
  if (highest - incs.length > ambiguous) violations.push(`${key}: values up to ${highest} from ${incs.length} increments (${ambiguous} failed)`);
  for (const read of reads) {
    const before = incs.filter((i) => i.complete < read.invoke).reduce((m, i) => Math.max(m, i.value!), 0);
    const after = incs.filter((i) => i.invoke > read.complete).reduce((m, i) => Math.min(m, i.value!), Infinity);
    if (read.value! < before) violations.push(`${key}: a read returned ${read.value} after an increment returned ${before}`);
    if (read.value! >= after) violations.push(`${key}: a read returned ${read.value} before an increment returned ${after}`);
  }
  for (const a of reads) {
    for (const b of reads) if (a.complete < b.invoke && a.value! > b.value!) violations.push(`${key}: reads went back from ${a.value} to ${b.value}`);
  }
  if (recordedIds !== final) violations.push(`${key}: count ${final} but ${recordedIds} increment ids recorded`);
  const lost = Math.max(0, highest - final, incs.length - final);
  const doubled = Math.max(0, final - incs.length - ambiguous);
  return { violations, lost, doubled };
}

/** The checker on histories with known answers; throws when it misjudges one. */
export function selfTest(): void {
  const op = (kind: Op["kind"], invoke: number, complete: number, value: number): Op => ({ key: "k", kind, invoke, complete, ok: true, value });
  const good = [op("inc", 0, 2, 1), op("inc", 1, 3, 2), op("read", 4, 5, 2)];
  const cases: [string, Op[], number, number, (v: KeyVerdict) => boolean][] = [
    ["a valid history", good, 2, 2, (v) => v.violations.length === 0 && v.lost === 0 && v.doubled === 0],
    ["a stale read", [...good, op("read", 6, 7, 1)], 2, 2, (v) => v.violations.length > 0],
    ["a real-time inversion", [op("inc", 0, 1, 2), op("inc", 2, 3, 1)], 2, 2, (v) => v.violations.length > 0],
    ["a lost write", good.slice(0, 2), 1, 1, (v) => v.lost === 1],
    ["a doubled write", good.slice(0, 2), 3, 3, (v) => v.doubled === 1],
  ];
  for (const [name, ops, final, ids, expected] of cases) {
    if (!expected(checkKey("k", ops, final, ids))) throw new Error(`linearizability checker misjudged ${name}`);
  }
}
