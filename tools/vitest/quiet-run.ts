/**
 * What every workerd test suite of this repository shares so that a green run reads green.
 *
 * Tests that inject a fault (an object that throws, an eviction) mark it by putting
 * {@link EXPECTED_FAULT} in the error's message or the abort reason. The local runtime logs every
 * such exception as "uncaught" with its stack; this setup prints one line for each instead, saying
 * it was expected. It also drops the runtime's note that the test runner's own WebSocket closed
 * when a test file ends, which comes from the test harness, not from code under test. Everything
 * else passes through untouched, so a real uncaught exception still shows in full.
 *
 * Wrangler's informational lines ("Using secrets defined in .dev.vars", once per test file) are
 * turned off too; its warnings and errors still print.
 */

process.env.WRANGLER_LOG ??= "warn";

/** The mark of an injected fault, in its message. */
export const EXPECTED_FAULT = "(expected fault)";

const RUNNER_SOCKET_CLOSED = /^exception = workerd\/api\/web-socket\.c\+\+:\d+: disconnected: WebSocket peer disconnected\n?$/;

type Write = typeof process.stdout.write;

function filtered(write: Write): Write {
  return function (this: NodeJS.WriteStream, chunk: unknown, ...rest: unknown[]) {
    const text = typeof chunk === "string" ? chunk : Buffer.isBuffer(chunk) ? chunk.toString("utf8") : undefined;
    if (text !== undefined) {
      if (RUNNER_SOCKET_CLOSED.test(text)) return true;
      // Only the runtime's own report is shortened; a test failure that quotes a fault stays whole.
      if (text.startsWith("uncaught exception") && text.includes(EXPECTED_FAULT)) chunk = `${summary(text)}\n`;
    }
    return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
  } as Write;
}

/** One line: the fault's own message, said to be expected. */
function summary(text: string): string {
  const line = text.split("\n").find((l) => l.includes(EXPECTED_FAULT)) ?? text;
  const message = /(?:stack = |jsg\.Error: |^)([^;]*\(expected fault\))/.exec(line)?.[1] ?? line.trim();
  return `expected fault, logged by the runtime as uncaught: ${message.replace(EXPECTED_FAULT, "").trim()}`;
}

// Not undone at teardown: the runtime prints its last runner-socket note after it.
export function setup(): void {
  process.stdout.write = filtered(process.stdout.write);
  process.stderr.write = filtered(process.stderr.write);
}

/** Vitest `onConsoleLog`: a test's own log line about an injected fault is not printed again. */
export function dropExpectedFaultLogs(log: string): false | undefined {
  return log.includes(EXPECTED_FAULT) ? false : undefined;
}

/** The `test` options every workerd suite of this repository uses. */
export const quietFaults = {
  globalSetup: [new URL("./quiet-run.ts", import.meta.url).pathname],
  onConsoleLog: dropExpectedFaultLogs,
};
