// End to end: the durable-shards CLI (the library's bin, as `npx durable-shards` runs it) against
// the server started by the README's start command, while `ws` clients pair and relays use the
// bootstrap API. The `codes` and `servers` keyspaces change shards, and keyspaces are backed up
// and restored, under that traffic, and no client may see an error. Commands that follow progress
// run in a pseudo-terminal (`script`), so the bars are really drawn and Ctrl-C is really typed.
import { execFile, spawn } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer, type RunningServer } from "./server.js";
import { announceChunks, withRegisteredClient, fillChunks } from "./fill.js";
import { connect, randomCode, randomKey, type WsClient } from "./ws-client.js";

const TOKEN = `e2e-admin-${Date.now()}`;
const SECRET = `e2e-registry-${Date.now()}`;
const BIN = join(dirname(createRequire(import.meta.url).resolve("durable-shards/package.json")), "dist/cli/main.js");
const run = promisify(execFile);

let server: RunningServer;
let env: NodeJS.ProcessEnv;

/** Runs the CLI; resolves with its exit code and output (it never throws for a non-zero exit). */
async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], { env, timeout: 120_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === "number" ? e.code : -1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}
const json = async <T = Record<string, unknown>>(...args: string[]): Promise<T> => {
  const result = await cli(...args, "--json");
  expect(result, result.stderr).toMatchObject({ code: 0 });
  return JSON.parse(result.stdout) as T;
};

/**
 * Pairing and bootstrap traffic until `stop()`: every exchange checked; what went wrong is listed.
 * Paced below the server's per-IP rate limits (every client here is 127.0.0.1): a pairing (two
 * upgrades) every 1.5 s, one relay registering once and then heartbeating and listing every 3 s.
 */
function traffic(base: string) {
  const errors: string[] = [];
  let pairings = 0;
  let listings = 0;
  let stopped = false;
  const pause = async (ms: number) => {
    for (let waited = 0; waited < ms && !stopped; waited += 100) await new Promise((r) => setTimeout(r, 100));
  };
  const pairing = async () => {
    for (; !stopped; await pause(1_500)) {
      const sockets: WsClient[] = [];
      try {
        const [a, b] = [await connect(base), await connect(base)];
        sockets.push(a, b);
        const [codeA, codeB] = [randomCode(), randomCode()];
        const [keyA, keyB] = [randomKey(), randomKey()];
        const ra = await a.ask({ type: "register", pairingCode: codeA, publicKey: keyA });
        const rb = await b.ask({ type: "register", pairingCode: codeB, publicKey: keyB });
        if (ra.type !== "registered" || rb.type !== "registered") throw new Error(`register: ${JSON.stringify([ra, rb])}`);
        a.send({ type: "pair_request", targetCode: codeB });
        const incoming = await b.waitFor("pair_incoming");
        if (incoming.fromCode !== codeA) throw new Error(`pair_incoming: ${JSON.stringify(incoming)}`);
        b.send({ type: "pair_response", targetCode: codeA, accepted: true });
        const [ma, mb] = [await a.waitFor("pair_matched"), await b.waitFor("pair_matched")];
        if (ma.peerCode !== codeB || mb.peerCode !== codeA) throw new Error(`pair_matched: ${JSON.stringify([ma, mb])}`);
        pairings++;
      } catch (error) {
        errors.push(`pairing: ${error instanceof Error ? error.message : String(error)}`);
      } finally {
        await Promise.all(sockets.map((s) => s.close()));
      }
    }
  };
  const bootstrap = async () => {
    const headers = { Authorization: `Bearer ${SECRET}`, "Content-Type": "application/json" };
    const serverId = `ed25519:e2e-cli-${Date.now()}`;
    try {
      const registered = await fetch(`${base}/servers`, {
        method: "POST",
        headers,
        body: JSON.stringify({ serverId, endpoint: "wss://relay.example.org", publicKey: "pk", region: "eu", timestamp: Date.now(), nonce: `cli-${Date.now()}-nonce` }),
      });
      if (registered.status !== 200) throw new Error(`POST /servers ${registered.status} ${await registered.text()}`);
      await registered.body?.cancel();
    } catch (error) {
      errors.push(`bootstrap: ${error instanceof Error ? error.message : String(error)}`);
    }
    for (let i = 1; !stopped; i++, await pause(3_000)) {
      try {
        const beat = await fetch(`${base}/servers/heartbeat`, { method: "POST", headers, body: JSON.stringify({ serverId, connections: i, sequenceNumber: i }) });
        if (beat.status !== 200) throw new Error(`POST /servers/heartbeat ${beat.status} ${await beat.text()}`);
        await beat.body?.cancel();
        const listed = await fetch(`${base}/servers`);
        if (listed.status !== 200) throw new Error(`GET /servers ${listed.status}`);
        await listed.body?.cancel();
        listings++;
      } catch (error) {
        errors.push(`bootstrap: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  };
  const done = Promise.all([pairing(), bootstrap()]);
  return {
    errors,
    counts: () => ({ pairings, listings }),
    stop: async () => {
      stopped = true;
      await done;
    },
  };
}

/**
 * Runs the CLI in a pseudo-terminal (`script`), as at a terminal: cli-progress draws its bars only
 * to a TTY, and what is typed (Ctrl-C is "\x03") goes through the terminal's line discipline.
 * Runs asynchronously, so the traffic of this process goes on meanwhile.
 */
function terminal(...args: string[]) {
  // `exec`: `script` runs the command through $SHELL, and a shell that stays as the CLI's parent
  // (dash does) dies of the Ctrl-C itself, so the exit status would be the shell's 130, not the CLI's.
  const quoted = `exec ${[process.execPath, BIN, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(" ")}`;
  // Its own process group, so a timeout kills the CLI under `script` too.
  // The same shell on every machine (CI's may differ from a developer's login shell).
  const child = spawn("script", ["-qfec", quoted, "/dev/null"], { env: { ...env, SHELL: "/bin/sh" }, stdio: ["pipe", "pipe", "pipe"], detached: true });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const timer = setTimeout(() => process.kill(-child.pid!, "SIGKILL"), 120_000);
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code))).finally(() => clearTimeout(timer));
  return {
    output: () => output,
    type: (keys: string) => child.stdin.write(keys),
    /** Resolves once the output matches `pattern`. */
    shows: (pattern: RegExp) => expect.poll(() => output, { timeout: 60_000, interval: 100 }).toMatch(pattern),
    exited,
  };
}

beforeAll(async () => {
  server = await startServer({ ADMIN_TOKEN: TOKEN, SERVER_REGISTRY_SECRET: SECRET, LIST_SNAPSHOT_FRESH_MS: "0" });
  env = { ...process.env, DURABLE_SHARDS_URL: `${server.base}/_shards`, DURABLE_SHARDS_TOKEN: TOKEN };
}, 100_000);
afterAll(() => server?.stop(), 20_000);

describe("durable-shards CLI against the running server", () => {
  it("reshards codes and servers, follows, detaches, aborts, backs up and restores, under client traffic with zero client errors", async () => {
    const load = traffic(server.base);
    try {
      // The traffic creates both keyspaces (each on first use).
      await expect.poll(async () => (await json<{ keyspaces: { name: string }[] }>("status")).keyspaces.map((k) => k.name), { timeout: 20_000 }).toEqual(expect.arrayContaining(["codes", "servers"]));
      const text = await cli("status");
      expect(text.code).toBe(0);
      expect(text.stdout).toMatch(/^keyspace\s+placement\s+version\s+shards/m);

      const dry = await json<{ dryRun: boolean; moves: unknown[]; predicted: { before: number; after: number } }>("add-shards", "codes", "2", "--dry-run");
      expect(dry.dryRun).toBe(true);
      expect(dry.moves.length).toBeGreaterThan(0);
      // Local state persists across runs, so shard ids are read, not assumed.
      const ids = async (keyspace: string) => (await json<{ shards: { id: string }[] }>("map", keyspace)).shards.map((s) => s.id);
      const codesBefore = await ids("codes");
      const versionOf = async (keyspace: string) => (await json<{ version: number }>("map", keyspace)).version;
      const codesVersion = await versionOf("codes");

      // In a pseudo-terminal: the bars are drawn, for the whole change and per move.
      const added2 = terminal("add-shards", "codes", "2", "--wait");
      expect(await added2.exited, added2.output()).toBe(0);
      expect(added2.output()).toMatch(/change v\d+ +\|[█░]+\|/);
      expect(added2.output()).toMatch(/s\d+ → s\d+ +\|/);
      expect(added2.output()).toMatch(/done: map version \d+, \d+ moves/);
      const added = (await ids("codes")).filter((id) => !codesBefore.includes(id));
      expect(added).toHaveLength(2);
      expect(await versionOf("codes")).toBe(codesVersion + 1);

      const servers = await json<{ phase: string; version: number }>("add-shards", "servers", "1", "--wait");
      expect(servers.phase).toBe("done");
      const rebalance = await json<{ dryRun: boolean; predicted: { by: string; before: number; after: number } }>("rebalance", "codes", "--by", "load", "--dry-run");
      expect(rebalance).toMatchObject({ dryRun: true, predicted: { by: "load" } });
      expect((await cli("rebalance", "codes", "--by", "slots", "--dry-run")).stdout).toMatch(/predicted/);
      const removed = await json<{ phase: string }>("remove-shards", "codes", ...added, "--wait");
      expect(removed.phase).toBe("done");
      expect(await ids("codes")).toEqual(codesBefore);

      // The operator's read commands, as text and as JSON.
      const top = await json<{ keys: { key: string; shard: string }[]; errorBound: number }>("top", "codes");
      expect(top.keys.length).toBeGreaterThan(0);
      expect((await cli("top", "codes")).stdout).toMatch(/^key\s+shard\s+slot\s+calls/m);
      expect(await json("diagnose", "codes")).toMatchObject({ keyspace: "codes", healthy: true });
      expect(Array.isArray(await json("alerts", "--all"))).toBe(true);
      expect((await cli("alerts")).code).toBe(0);

      // Backed up before a change runs; restored in place after it was aborted.
      await fillChunks(server.base, 240);
      const chunksBefore = await ids("chunks");
      const chunksBackup = await json<{ id: string; phase: string; rows: number }>("backup", "chunks", "--wait");
      expect(chunksBackup.phase).toBe("done");
      expect(chunksBackup.rows).toBeGreaterThanOrEqual(240);

      // A change copying megabytes at 64 KiB/s takes a while. Followed in a terminal, Ctrl-C
      // detaches and leaves it running; then it is aborted.
      const started = await json<{ started: boolean; version: number }>("add-shards", "chunks", "1", "--copy-rate", "65536");
      expect(started.started).toBe(true);
      // Announcing chunks (a write to several chunk shards at once) goes on while the change runs.
      await withRegisteredClient(server.base, async (socket, code) => {
        for (let round = 0; round < 5; round++) {
          await announceChunks(socket, code, Array.from({ length: 20 }, (_, i) => `during-${Date.now()}-${round}-${i}`));
          await new Promise((r) => setTimeout(r, 300));
        }
      });
      const follow = terminal("change", "chunks");
      await follow.shows(/change v\d+ +\|/);
      follow.type("\x03");
      expect(await follow.exited, follow.output()).toBe(0);
      expect(follow.output()).toMatch(/detached: the change goes on on the server/);
      // With --json nothing is drawn; once it follows (it answers Ctrl-C only then), Ctrl-C says so as JSON.
      const quiet = terminal("change", "chunks", "--json");
      await new Promise((r) => setTimeout(r, 3_000));
      quiet.type("\x03");
      expect(await quiet.exited, quiet.output()).toBe(0);
      const printed = quiet.output();
      expect(JSON.parse(printed.slice(printed.indexOf("{"), printed.lastIndexOf("}") + 1))).toEqual({ detached: true, keyspace: "chunks" });
      const status = await json<{ keyspaces: { name: string; change: { version: number; phase: string } | null }[] }>("status");
      const running = status.keyspaces.find((k) => k.name === "chunks")?.change;
      expect(running?.version).toBe(started.version);
      expect(["done", "rolled back", "failed"]).not.toContain(running?.phase);
      const aborted = await json<{ phase: string; version: number }>("abort", "chunks");
      expect(aborted).toMatchObject({ phase: "rolled back", version: started.version });
      expect(await ids("chunks")).toEqual(chunksBefore);

      const inPlace = await json<{ phase: string; verified: boolean; rows: number }>("restore", "chunks", chunksBackup.id);
      expect(inPlace).toMatchObject({ phase: "done", verified: true, rows: chunksBackup.rows });

      const serversBackup = await json<{ id: string; phase: string }>("backup", "servers", "--wait");
      expect(serversBackup.phase).toBe("done");
      expect((await json<{ id: string }[]>("backups", "servers")).map((b) => b.id)).toContain(serversBackup.id);
      expect((await cli("backups", "servers")).stdout).toContain(serversBackup.id);
      const copy = terminal("restore", "servers", serversBackup.id, "--into", `servers-copy-${Date.now()}`);
      expect(await copy.exited, copy.output()).toBe(0);
      expect(copy.output()).toMatch(/restored bk-[^ ]+ into servers-copy-\d+: [\d,]+ rows, checksums equal/);

      const counts = load.counts();
      expect(counts.pairings).toBeGreaterThanOrEqual(3);
      expect(counts.listings).toBeGreaterThanOrEqual(2);
    } finally {
      await load.stop();
    }
    expect(load.errors).toEqual([]);
  }, 240_000);

  it("answers misuse with one line and a non-zero exit, never a stack trace", async () => {
    for (const args of [["restore", "servers", "bk-none"], ["map", "no-such-keyspace"], ["abort", "codes"], ["add-shards", "codes", "0"], ["rebalance", "codes", "--by", "mood"], ["status", "--token", "wrong"]]) {
      const result = await cli(...args);
      expect(result.code, args.join(" ")).not.toBe(0);
      const lines = result.stderr.trim().split("\n");
      expect(lines, args.join(" ")).toHaveLength(1);
      expect(lines[0]).toMatch(/^error: /);
      expect(result.stderr).not.toMatch(/\n\s+at /);
    }
  }, 120_000);
});
