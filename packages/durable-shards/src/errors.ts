/**
 * Typed errors of durable-shards.
 *
 * The library's objects never throw these across RPC: they return them as values (`result.ts`),
 * and the router and {@link directoryClient} throw them, typed, on the caller's side. Errors that
 * do cross RPC as exceptions (an app calling a raw stub) arrive as plain `Error`s whose class and
 * properties are lost, so every message also carries its code as `[Code] text`;
 * {@link ShardError.from} turns such an error back into the typed class.
 */

/** Every error code the library throws. */
export type ShardErrorCode =
  | "InvalidArgument"
  | "InvalidKey"
  | "UnknownKeyspace"
  | "UnknownBackup"
  | "Migrating"
  | "Migrated"
  | "KeyspaceExists"
  | "UnknownShard"
  | "ShardExists"
  | "LastShard"
  | "ChangeInProgress"
  | "NoChange"
  | "RolledBack"
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
    super(`[${code}] ${message}`);
    this.name = code;
    this.retryable = options.retryable ?? false;
    // Set by hand, not through Error's options: apps compiled against ES2021 libs (the
    // create-cloudflare templates) have no two-argument Error constructor.
    if (options.cause !== undefined) Object.defineProperty(this, "cause", { value: options.cause, writable: true, configurable: true });
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
    return ShardError.of(code, detail, { cause: error, retryable: (error as { retryable?: unknown }).retryable === true });
  }

  /** The typed error of `code`: the subclass for codes that have one. */
  static of(
    code: ShardErrorCode,
    detail: string,
    options: { retryable?: boolean; cause?: unknown; mapVersion?: number; movedTo?: string; owners?: readonly (string | null)[] } = {},
  ): ShardError {
    if (code === "WrongShard") return new WrongShardError(detail, options.mapVersion ?? 0, options.movedTo, options.owners);
    if (code === "Overloaded") return new OverloadedError(detail, { cause: options.cause });
    return new ShardError(code, detail, options);
  }
}

const CODES: ReadonlySet<string> = new Set<ShardErrorCode>([
  "InvalidArgument",
  "InvalidKey",
  "UnknownKeyspace",
  "UnknownBackup",
  "Migrating",
  "Migrated",
  "KeyspaceExists",
  "UnknownShard",
  "ShardExists",
  "LastShard",
  "ChangeInProgress",
  "NoChange",
  "RolledBack",
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
    /**
     * A refused call for several keys (`router.some`): per key, in the order sent, the shard that
     * serves it as far as the refusing shard knows (itself, the shard it handed the slot to, or null).
     */
    readonly owners?: readonly (string | null)[],
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
