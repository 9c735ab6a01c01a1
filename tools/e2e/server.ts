/**
 * Starts an app with its README's start command (`scripts/dev.mjs`) for end-to-end tests, on a
 * free port, and waits until `/health` answers.
 */
import { spawn } from "node:child_process";
import { freePort } from "../free-port.js";

/** A running server: its base URL, everything it printed so far, and how to stop it. */
export interface RunningServer {
  base: string;
  output: () => string;
  stop: () => Promise<void>;
}

/** Starts the server on a free port with `env` added to the environment; resolves once /health answers. */
export async function startApp(appDir: string, env: Record<string, string> = {}): Promise<RunningServer> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  let output = "";
  const child = spawn(process.execPath, ["scripts/dev.mjs"], {
    cwd: appDir,
    env: { ...process.env, ...env, PORT: String(port) },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  child.stdout!.on("data", (chunk) => (output += chunk));
  child.stderr!.on("data", (chunk) => (output += chunk));
  const stop = async () => {
    if (!child.pid || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    process.kill(-child.pid, "SIGTERM");
    const timer = setTimeout(() => process.kill(-child.pid!, "SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  };
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    try {
      // A worker that failed to build leaves wrangler's proxy holding requests open forever.
      if ((await fetch(`${base}/health`, { signal: AbortSignal.timeout(2_000) })).ok) return { base, output: () => output, stop };
    } catch {
      // not listening yet, or not answering
    }
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  await stop();
  throw new Error(`server did not answer /health within 90 s (or exited):\n${output}`);
}
