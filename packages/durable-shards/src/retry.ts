/**
 * The retry policy for calls to Durable Objects.
 *
 * Only errors the platform marks `retryable` and not `overloaded` are retried, with jittered
 * exponential backoff and a bounded number of attempts. Each attempt gets a new stub, because a
 * stub that threw may stay broken. Overload is never retried: it surfaces as
 * {@link OverloadedError} so the edge can shed load (503 + Retry-After).
 */
import { OverloadedError, ShardError } from "./errors.js";
import { parse, retryOptionsSchema } from "./schema.js";

/** Options of {@link withRetry}. */
export interface RetryOptions {
  /** Attempts in total, including the first (1 … 20). Default 3. */
  maxAttempts?: number;
  /** Backoff before the second attempt; doubles each time. Default 50 ms. */
  baseDelayMs?: number;
  /** Cap of one backoff. Default 2,000 ms. */
  maxDelayMs?: number;
  /** Source of jitter in [0, 1); defaults to `Math.random`. */
  random?: () => number;
  /** Called before each retry, e.g. for metrics. */
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
  /**
   * The call may safely run twice (a read, or a write that is idempotent): then an error of an
   * object reset mid-call (`durableObjectReset`, which may have run the call or not) is retried
   * too. Default false.
   */
  idempotent?: boolean;
}

interface PlatformErrorFlags {
  retryable?: unknown;
  overloaded?: unknown;
  durableObjectReset?: unknown;
}

/** Whether the platform marked `error` as overload ("Durable Object is overloaded", …). */
export function isOverloaded(error: unknown): boolean {
  if (error instanceof OverloadedError) return true;
  return typeof error === "object" && error !== null && (error as PlatformErrorFlags).overloaded === true;
}

/**
 * Whether `error` may be retried: marked `retryable` and not overloaded, or, for an `idempotent`
 * call, the error of an object that was reset mid-call.
 */
export function isRetryable(error: unknown, options: Pick<RetryOptions, "idempotent"> = {}): boolean {
  if (isOverloaded(error)) return false;
  if (options.idempotent === true && typeof error === "object" && error !== null && (error as PlatformErrorFlags).durableObjectReset === true) return true;
  // A refusal is retried by the router after refreshing its map; repeating it unchanged is useless.
  if (ShardError.from(error)?.code === "WrongShard") return false;
  if (error instanceof ShardError) return error.retryable;
  return typeof error === "object" && error !== null && (error as PlatformErrorFlags).retryable === true;
}

/** Jittered exponential backoff ("full jitter") before attempt `attempt + 1`. */
export function backoffDelay(attempt: number, options: RetryOptions = {}): number {
  const base = options.baseDelayMs ?? 50;
  const cap = options.maxDelayMs ?? 2_000;
  const random = options.random ?? Math.random;
  return Math.floor(random() * Math.min(cap, base * 2 ** (attempt - 1)));
}

/**
 * Calls `call(newStub(), attempt)` until it succeeds, fails with a non-retryable error, or the
 * attempts run out (the last error is rethrown). Overload is rethrown as {@link OverloadedError}.
 */
export function withRetry<S, T>(
  newStub: () => S,
  call: (stub: S, attempt: number) => Promise<T>,
  options: RetryOptions = NO_OPTIONS,
): Promise<T> {
  // The first attempt is made without an async wrapper: it is on every routed call's path, and
  // the retry loop is only needed once it failed.
  let first: Promise<T>;
  try {
    checkOptions(options);
    first = call(newStub(), 1);
  } catch (error) {
    first = Promise.reject(error);
  }
  return first.catch((error: unknown) => retryAfter(error, newStub, call, options));
}

/**
 * Continues the policy after a first attempt that failed with `firstError` (counted as attempt 1).
 * For callers that make the first attempt themselves to keep it free of wrappers.
 */
export async function retryAfter<S, T>(
  firstError: unknown,
  newStub: () => S,
  call: (stub: S, attempt: number) => Promise<T>,
  options: RetryOptions,
): Promise<T> {
  const maxAttempts = Math.max(1, options.maxAttempts ?? 3);
  let error = firstError;
  for (let attempt = 1; ; attempt++) {
    if (isOverloaded(error)) {
      throw error instanceof OverloadedError
        ? error
        : new OverloadedError(error instanceof Error ? error.message : String(error), { cause: error });
    }
    if (!isRetryable(error, options) || attempt >= maxAttempts) throw error;
    const delay = backoffDelay(attempt, options);
    options.onRetry?.(error, attempt, delay);
    await sleep(delay);
    try {
      return await call(newStub(), attempt + 1);
    } catch (next) {
      error = next;
    }
  }
}

const NO_OPTIONS: RetryOptions = Object.freeze({});

/** Options objects already validated; routers pass the same object on every call. */
const checkedOptions = new WeakSet<RetryOptions>();

function checkOptions(options: RetryOptions): void {
  if (checkedOptions.has(options)) return;
  parse(retryOptionsSchema, options, "retry options");
  checkedOptions.add(options);
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
