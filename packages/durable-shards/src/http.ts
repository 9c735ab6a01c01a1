/**
 * Mapping library errors onto HTTP answers at a Worker's edge.
 */
import { OverloadedError, ShardError } from "./errors.js";
import { isOverloaded } from "./retry.js";

const STATUS: Partial<Record<string, number>> = {
  InvalidArgument: 400,
  InvalidKey: 400,
  UnknownKeyspace: 404,
  UnknownBackup: 404,
  // A legacy object's key moved to its keyspace: the caller should call it there.
  Migrated: 409,
  Migrating: 503,
  UnknownShard: 404,
  KeyspaceExists: 409,
  ShardExists: 409,
  LastShard: 409,
  ChangeInProgress: 409,
  // An abort with nothing to abort: the keyspace's state, not the request, is in the way.
  NoChange: 409,
  RolledBack: 409,
  DeadlineExceeded: 504,
  // Some shards did not answer: the service is partly unavailable, not the request wrong.
  Incomplete: 503,
};

/**
 * The HTTP status for one of the library's errors (as {@link errorResponse} answers it): 503 for
 * overload and other retryable failures, the code's 4xx, or `undefined` for an error it does not
 * know. For an app that answers in its own shape.
 */
export function errorStatus(error: unknown): number | undefined {
  if (isOverloaded(error)) return 503;
  const typed = ShardError.from(error);
  return typed && statusOf(typed);
}

function statusOf(error: ShardError): number {
  return STATUS[error.code] ?? (error.retryable ? 503 : 500);
}

/**
 * A JSON error response for `error`: 503 with `Retry-After` for overload, 4xx for rejected input,
 * 503 for other retryable failures, or `undefined` when the error is not one the library knows
 * (let the app's own handler decide).
 */
export function errorResponse(error: unknown): Response | undefined {
  if (isOverloaded(error)) {
    const retryAfter = error instanceof OverloadedError ? error.retryAfterSeconds : 1;
    return Response.json(
      { error: "overloaded", message: "the service is overloaded; retry later" },
      { status: 503, headers: { "Retry-After": String(retryAfter) } },
    );
  }
  const typed = ShardError.from(error);
  if (!typed) return undefined;
  const status = statusOf(typed);
  const headers: HeadersInit = status === 503 ? { "Retry-After": "1" } : {};
  return Response.json({ error: typed.code, message: typed.detail }, { status, headers });
}
