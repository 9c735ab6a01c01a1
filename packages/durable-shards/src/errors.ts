/**
 * Typed errors of durable-shards.
 *
 * Errors thrown inside a Durable Object reach the caller as plain `Error`s whose class is lost, so
 * every error here writes its code into the message as `[Code] text`. {@link ShardError.from}
 * turns such an error back into the typed class on the caller's side.
 */

/** Every error code the library throws. */
export type ShardErrorCode =
  | "InvalidArgument"
  | "InvalidKey"
  | "UnknownKeyspace"
  | "KeyspaceExists"
  | "UnknownShard"
  | "ShardExists"
  | "LastShard"
  | "ChangeInProgress"
  | "WrongShard"
  | "NotInitialized"
  | "Overloaded"
  | "DeadlineExceeded"
  | "RetriesExhausted"
  | "Incomplete";

// Across RPC the runtime prefixes the message with the error's name ("UnknownKeyspace: [UnknownKeyspace] …").
const CODE_PATTERN = /^(?:[A-Za-z]+: )?\[([A-Za-z]+)\] /;

/** Base class of every error durable-shards throws on purpose. */
export class ShardError extends Error {
  /** Whether repeating the same call later may succeed. */
  readonly retryable: boolean;

  constructor(
    readonly code: ShardErrorCode,
    message: string,
    options: { retryable?: boolean; cause?: unknown } = {},
  ) {
    super(`[${code}] ${message}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = code;
    this.retryable = options.retryable ?? false;
  }

  /** The message without its `[Code]` prefix. */
  get detail(): string {
    return this.message.replace(CODE_PATTERN, "");
  }

  /**
   * Recovers a typed error from anything thrown, including errors that crossed an RPC boundary.
   * Returns `undefined` when `error` is not one of ours.
   */
  static from(error: unknown): ShardError | undefined {
    if (error instanceof ShardError) return error;
    if (!(error instanceof Error)) return undefined;
    const match = CODE_PATTERN.exec(error.message);
    if (!match || !isCode(match[1]!)) return undefined;
    const detail = error.message.slice(match[0].length);
    const code = match[1] as ShardErrorCode;
    if (code === "WrongShard") {
      const version = /\(map version (\d+)\)/.exec(detail);
      const movedTo = /; moved to '([^']+)'/.exec(detail);
      return new WrongShardError(detail, version ? Number(version[1]) : 0, movedTo?.[1]);
    }
    if (code === "Overloaded") return new OverloadedError(detail, { cause: error });
    return new ShardError(code, detail, { cause: error });
  }
}

const CODES: ReadonlySet<string> = new Set<ShardErrorCode>([
  "InvalidArgument",
  "InvalidKey",
  "UnknownKeyspace",
  "KeyspaceExists",
  "UnknownShard",
  "ShardExists",
  "LastShard",
  "ChangeInProgress",
  "WrongShard",
  "NotInitialized",
  "Overloaded",
  "DeadlineExceeded",
  "RetriesExhausted",
  "Incomplete",
]);

function isCode(code: string): code is ShardErrorCode {
  return CODES.has(code);
}

/**
 * A shard refused a call for a slot it does not own. `mapVersion` is the newest map version the
 * shard knows; the router refreshes its map to at least that version and retries.
 */
export class WrongShardError extends ShardError {
  constructor(
    message: string,
    readonly mapVersion: number,
    /** The shard the slot was released to, while the change that moves it is not committed. */
    readonly movedTo?: string,
  ) {
    super("WrongShard", message, { retryable: true });
  }
}

/**
 * A Durable Object reported overload. It must not be retried: shed load instead.
 * HTTP edges answer 503 with `Retry-After: retryAfterSeconds`.
 */
export class OverloadedError extends ShardError {
  readonly retryAfterSeconds: number;

  constructor(message: string, options: { cause?: unknown; retryAfterSeconds?: number } = {}) {
    super("Overloaded", message, { cause: options.cause });
    this.retryAfterSeconds = options.retryAfterSeconds ?? 1;
  }
}

/** Shorthand for the most common error: rejected input. */
export function invalidArgument(message: string): ShardError {
  return new ShardError("InvalidArgument", message);
}
