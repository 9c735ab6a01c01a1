/**
 * Fan-out over shards with bounded concurrency, a deadline and honest partial results.
 *
 * The result lists every target, each as a value or an error, and `complete` is true only when
 * every target answered. Callers decide what a partial answer means; nothing here turns one into
 * a complete-looking answer.
 */
import { ShardError } from "./errors.js";
import { isRetryable } from "./retry.js";
import { fanOutOptionsSchema, parse } from "./schema.js";

/** Options of {@link fanOut}. */
export interface FanOutOptions {
  /** Calls in flight at once, 1 … 1,000. Default 16. */
  concurrency?: number;
  /**
   * Time for the whole fan-out in ms (up to 10 minutes); targets not answered by then fail with
   * `DeadlineExceeded`. Default 10 s.
   */
  deadlineMs?: number;
}

/** The outcome for one target. */
export type FanOutOutcome<T> =
  | { shard: string; ok: true; value: T }
  | { shard: string; ok: false; error: Error };

/** Every target's outcome, in target order, and whether all succeeded. */
export interface FanOutResult<T> {
  results: FanOutOutcome<T>[];
  complete: boolean;
  /** Map version the targets came from, when the fan-out was routed. */
  mapVersion?: number;
}

/** The values of the successful outcomes, in target order. */
export function valuesOf<T>(result: FanOutResult<T>): T[] {
  return result.results.flatMap((r) => (r.ok ? [r.value] : []));
}

/** The errors of the failed outcomes, in target order. */
export function errorsOf<T>(result: FanOutResult<T>): { shard: string; error: Error }[] {
  return result.results.flatMap((r) => (r.ok ? [] : [{ shard: r.shard, error: r.error }]));
}

/**
 * The values of `result` when every target answered; otherwise throws `Incomplete`, naming each
 * failed shard and its error (retryable when every failure is). For callers to whom a partial
 * answer is a failure, such as a write or a cleanup that must reach every shard.
 */
export function completeValuesOf<T>(result: FanOutResult<T>, what: string): T[] {
  if (result.complete) return valuesOf(result);
  const failed = errorsOf(result);
  const list = failed.map((f) => `${f.shard}: ${f.error.message}`).join("; ");
  throw new ShardError("Incomplete", `${what}: ${failed.length} of ${result.results.length} shards failed (${list})`, {
    retryable: failed.every((f) => isRetryable(f.error)),
    cause: failed[0]!.error,
  });
}

/** Calls `call(target)` for every target, at most `concurrency` at a time, until the deadline. */
export async function fanOut<T>(
  targets: readonly string[],
  call: (target: string, index: number) => Promise<T>,
  options: FanOutOptions = {},
): Promise<FanOutResult<T>> {
  const checked = parse(fanOutOptionsSchema, options, "options");
  const concurrency = checked.concurrency ?? 16;
  const deadlineMs = checked.deadlineMs ?? 10_000;
  const results = new Array<FanOutOutcome<T> | undefined>(targets.length);
  let next = 0;
  let expired = false;

  const worker = async (): Promise<void> => {
    while (!expired && next < targets.length) {
      const index = next++;
      const shard = targets[index]!;
      try {
        const value = await call(shard, index);
        if (!expired) results[index] = { shard, ok: true, value };
      } catch (error) {
        if (!expired) results[index] = { shard, ok: false, error: error instanceof Error ? error : new Error(String(error)) };
      }
    }
  };

  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      expired = true;
      resolve();
    }, deadlineMs);
  });
  const workers = Array.from({ length: Math.min(concurrency, targets.length) }, worker);
  await Promise.race([Promise.all(workers), deadline]);
  if (timer !== undefined) clearTimeout(timer);
  expired = true;

  const filled = targets.map(
    (shard, i): FanOutOutcome<T> =>
      results[i] ?? {
        shard,
        ok: false,
        error: new ShardError("DeadlineExceeded", `shard '${shard}' did not answer within ${deadlineMs} ms`),
      },
  );
  return { results: filled, complete: filled.every((r) => r.ok) };
}
