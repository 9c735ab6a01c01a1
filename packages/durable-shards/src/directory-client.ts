/**
 * The way apps (and the router) call the directory: typed methods whose errors arrive as
 * {@link ShardError}s with their `code`, and whose expected failures are values on the wire, not
 * exceptions the platform would count against the directory.
 */
import { DEFAULT_DIRECTORY_NAME, DIRECTORY_METHODS, type DirectoryMethod, type ShardDirectory } from "./directory.js";
import { ShardError } from "./errors.js";
import { unwrap } from "./result.js";
import { withRetry, type RetryOptions } from "./retry.js";
import { parse } from "./schema.js";
import { z } from "zod";

/** The directory's methods, called through {@link directoryClient}. */
export type DirectoryClient = {
  [K in DirectoryMethod]: (...args: Parameters<ShardDirectory[K]>) => Promise<Awaited<ReturnType<ShardDirectory[K]>>>;
};

/**
 * Any app's directory namespace: `DurableObjectNamespace<Directory>` for its own
 * `class Directory extends ShardDirectory<Env> {}`, as `wrangler types` declares it.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the directory's Env is the app's own
export type DirectoryNamespace = DurableObjectNamespace<ShardDirectory<any>>;

interface InvokeRpc {
  dsInvoke(method: string, args: unknown[]): Promise<unknown>;
}

const NO_RETRY: RetryOptions = Object.freeze({ maxAttempts: 1 });
const directoryNameSchema = z.string().min(1, "directory name must not be empty").max(256, "directory name must be at most 256 characters");

/**
 * A client of the directory object `name` (default {@link DEFAULT_DIRECTORY_NAME}) in
 * `namespace`. Each call gets a new stub. Calls are not retried: changes are not idempotent.
 */
export function directoryClient(namespace: DirectoryNamespace, name: string = DEFAULT_DIRECTORY_NAME): DirectoryClient {
  const objectName = parse(directoryNameSchema, name, "directory name");
  const client: Partial<Record<DirectoryMethod, (...args: unknown[]) => Promise<unknown>>> = {};
  for (const method of DIRECTORY_METHODS) client[method] = (...args) => invokeDirectory(namespace, objectName, method, args);
  return client as DirectoryClient;
}

/**
 * Calls `method(...args)` on the directory and returns its result, or throws its error typed.
 * With `retry`, platform errors and retryable directory errors are retried (only for idempotent
 * methods).
 */
export async function invokeDirectory(
  namespace: DirectoryNamespace,
  name: string,
  method: DirectoryMethod,
  args: unknown[],
  retry: RetryOptions = NO_RETRY,
): Promise<unknown> {
  try {
    return await withRetry(
      () => namespace.getByName(name) as unknown as InvokeRpc,
      async (stub) => unwrap(await stub.dsInvoke(method, args)),
      retry,
    );
  } catch (error) {
    throw ShardError.from(error) ?? error;
  }
}
