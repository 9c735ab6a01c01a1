/**
 * Expected outcomes as values across RPC.
 *
 * The platform counts an RPC method that throws as a failed invocation (and the local runtime logs
 * it as uncaught), even when the caller expected the error. So the library's objects never throw a
 * {@link ShardError} across RPC: a refusal, an unknown keyspace, a shard not yet granted or
 * rejected input travels back as a {@link Failure} value, and the caller's side (router,
 * directory client) throws it as the typed error. Anything else, a bug or a platform fault, still
 * throws: those are the failures people watching a deployment must see.
 */
import { ShardError, WrongShardError, type ShardErrorCode } from "./errors.js";

/**
 * Own key of a failure value. Warning: a keyspace method must not return a plain object with this
 * key of its own, or routers take it for a failure.
 */
export const FAILURE_KEY = "__durableShardsFailure";

/** What a failure carries: enough to rebuild the typed error on the caller's side. */
export interface FailureBody {
  code: ShardErrorCode;
  /** The message without its `[Code]` prefix. */
  detail: string;
  retryable: boolean;
  /** Refusals: the newest map version the refusing shard knows. */
  mapVersion?: number;
  /** Refusals: the shard the slot was released to, while its change is not committed. */
  movedTo?: string;
  /** Refusals of a call for several keys: who serves each key, in the order sent (see {@link WrongShardError.owners}). */
  owners?: (string | null)[];
}

/** A {@link ShardError} returned, rather than thrown, across RPC. */
export interface Failure {
  [FAILURE_KEY]: FailureBody;
}

/** The value that carries `error` across RPC. */
export function failureOf(error: ShardError): Failure {
  const body: FailureBody = { code: error.code, detail: error.detail, retryable: error.retryable };
  if (error instanceof WrongShardError) {
    body.mapVersion = error.mapVersion;
    if (error.movedTo !== undefined) body.movedTo = error.movedTo;
    if (error.owners !== undefined) body.owners = [...error.owners];
  }
  return { [FAILURE_KEY]: body };
}

/** Whether `value` is a failure. Cheap for the common answers (primitives, null) on the hot path. */
export function isFailure(value: unknown): value is Failure {
  return (
    typeof value === "object" &&
    value !== null &&
    Object.getPrototypeOf(value) === Object.prototype &&
    Object.prototype.hasOwnProperty.call(value, FAILURE_KEY)
  );
}

/** The typed error a failure carries. */
export function errorOf(failure: Failure): ShardError {
  const body = failure[FAILURE_KEY];
  return ShardError.of(body.code, body.detail, body);
}

/** `value`, or the typed error it carries thrown. */
export function unwrap<T>(value: T | Failure): T {
  if (isFailure(value)) throw errorOf(value);
  return value;
}

/** Turns a thrown {@link ShardError} into its failure; rethrows anything else. */
export function failureOrThrow(error: unknown): Failure {
  if (error instanceof ShardError) return failureOf(error);
  throw error;
}

/**
 * Runs `fn` and returns what it returns, with a {@link ShardError} it throws (or its promise
 * rejects with) returned as a failure instead. Other errors propagate.
 */
export function settle<T>(fn: () => Promise<T>): Promise<T | Failure>;
export function settle(fn: () => unknown): unknown;
export function settle(fn: () => unknown): unknown {
  let result: unknown;
  try {
    result = fn();
  } catch (error) {
    return failureOrThrow(error);
  }
  if (isThenable(result)) return Promise.resolve(result).then(undefined, failureOrThrow);
  return result;
}

/** Whether `value` is a promise (or another thenable). */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === "function";
}
