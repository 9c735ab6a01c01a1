/**
 * The operator's scripts against the running app: seed, then a big bang with verify, as the README
 * walks through; and misuse answered with one line and a non-zero exit, never a stack trace.
 */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTodoStores, type RunningServer } from "./app.js";

const appDir = join(import.meta.dirname, "..");
const tsx = join(appDir, "../../node_modules/.bin/tsx");
let server: RunningServer;

beforeAll(async () => {
  server = await startTodoStores();
}, 100_000);
afterAll(() => server?.stop());

/** Runs `scripts/<script>.ts` with `args`; its exit code and output. */
async function run(script: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(tsx, [join(appDir, `scripts/${script}.ts`), ...args], { cwd: appDir, env: { ...process.env, TODO_STORES_URL: server.base } });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe("the migrate, seed and token scripts", () => {
  it("seed, a dry run, then a big bang that verifies every copy", { timeout: 60_000 }, async () => {
    const seeded = await run("seed", "--users", "40", "--todos", "3");
    expect(seeded.code).toBe(0);
    expect(seeded.stdout).toMatch(/seeded 40 users with 3 todos each/);
    const dry = JSON.parse((await run("migrate", "--json", "big-bang", "--dry-run", "--page-size", "15")).stdout);
    expect(dry).toMatchObject({ dryRun: true, flag: { from: "legacy", to: "sharded" }, stores: 40, pages: 3 });
    expect(JSON.parse((await run("migrate", "--json", "status")).stdout)).toMatchObject({ flag: "legacy", legacy: { here: 40 } });
    const bang = await run("migrate", "--json", "big-bang", "--page-size", "15");
    expect(bang.code).toBe(0);
    expect(JSON.parse(bang.stdout)).toMatchObject({ moved: 40, failed: [], checked: 40, exact: 40, mismatched: [] });
    expect(JSON.parse((await run("migrate", "--json", "status")).stdout)).toMatchObject({ flag: "sharded", legacy: { here: 0, frozen: 0, elsewhere: 40 } });
    const token = (await run("token", "user00003")).stdout.trim();
    const loaded = await fetch(`${server.base}/api/user00003/load?token=${token}`);
    expect(((await loaded.json()) as [{ todos: object }])[0].todos).toEqual({
      t0: { text: "user00003: todo 0", done: true, at: 0 },
      t1: { text: "user00003: todo 1", done: false, at: 1 },
      t2: { text: "user00003: todo 2", done: true, at: 2 },
    });
  });

  it("answers misuse with one line and a non-zero exit", { timeout: 60_000 }, async () => {
    for (const [script, args, message] of [
      ["token", ["bad id!"], /userId: ids are 1-64/],
      ["token", ["alice", "--ttl", "5"], /--ttl/],
      ["migrate", ["flag", "sideways"], /side must be 'legacy' or 'sharded'/],
      ["migrate", ["big-bang", "--page-size", "0"], /--page-size must be at least 1/],
      ["migrate", ["--url", "ftp://x", "status"], /--url: must be an http\(s\) URL/],
      ["migrate", ["--token", "wrong", "status"], /401 send 'Authorization: Bearer <ADMIN_TOKEN>'/],
      ["migrate", ["--url", "http://127.0.0.1:9", "status"], /cannot reach/],
      ["seed", ["--users", "-3"], /--users/],
      ["migrate", ["nonsense"], /unknown command/],
    ] as const) {
      const r = await run(script, ...args);
      expect(r.code, `${script} ${args.join(" ")}`).not.toBe(0);
      expect(r.stderr.trim().split("\n"), `${script} ${args.join(" ")}`).toHaveLength(1);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });
});
