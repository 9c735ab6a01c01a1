/**
 * `npm run -w apps/todo-stores migrate -- <command>`: the operator's migration off the legacy
 * store. `status`; `big-bang [--page-size N] [--dry-run]` (flag to sharded, sweep every store with a
 * progress bar and an ETA, then verify); `gradual [--users-per-second N] [--detach]` (flag to
 * sharded with a background sweep; stores also move on first access); `flag <legacy|sharded>
 * [--gradual]` (the feature flag; back to legacy brings the stores back); `verify`. Every command
 * takes `--url`, `--token` and `--json`, exits 0 on success and 1 with a one-line reason otherwise.
 */
import { Command, Option } from "commander";
import cliProgress from "cli-progress";
import { z } from "zod";
import { sideSchema, type MigrationStatus, type SweepStatus } from "../src/migration-status.js";
import { admin, target, type AdminTarget } from "./admin-client.js";
import { checked, urlSchema } from "./local.js";

interface Global {
  url?: string;
  token?: string;
  json?: boolean;
}
interface VerifyPage {
  users: { key: string; copyExact: boolean; changedSince: boolean | null; legacy: { rows: number; hash: string } | null; sharded: { rows: number; hash: string } | null }[];
  next: string | null;
}

const program = new Command("migrate")
  .description("move todo stores off the legacy default-store, or back")
  .option("--url <url>", "the app's base URL (default TODO_STORES_URL or http://127.0.0.1:8788)")
  .option("--token <token>", "the admin token (default ADMIN_TOKEN or .dev.vars)")
  .option("--json", "print JSON for scripts");

function connect(): { t: AdminTarget; json: boolean } {
  const o = program.opts<Global>();
  if (o.url !== undefined) checked(urlSchema, o.url, "--url");
  return { t: target(o), json: o.json === true };
}

const pageSize = new Option("--page-size <n>", "stores moved per page").default("50");
const rate = new Option("--users-per-second <n>", "background sweep rate").default("20");
const count = (what: string, max: number) => z.coerce.number().int().min(1, `${what} must be at least 1`).max(max, `${what} must be at most ${max}`);

function describe(s: MigrationStatus): string {
  const sweep = s.sweep ? `sweep toward ${s.sweep.to}: ${s.sweep.migrated} moved${s.sweep.done ? ", done" : s.sweep.background ? `, running at ${s.sweep.usersPerSecond}/s` : ", paused"}${s.sweep.failed.length ? `, ${s.sweep.failed.length} failed (pass ${s.sweep.pass}; a pass with failures is followed by another, up to 3)` : ""}` : "no sweep";
  return `flag: ${s.flag}\nlegacy store: ${s.legacy.here} stores here, ${s.legacy.frozen} moving, ${s.legacy.elsewhere} on the sharded side\n${sweep}`;
}

program
  .command("status")
  .description("the flag, where the stores are, and the sweep's progress")
  .action(async () => {
    const { t, json } = connect();
    const s = await admin<MigrationStatus>(t, "/migration");
    console.log(json ? JSON.stringify(s) : describe(s));
  });

program
  .command("flag")
  .description("switch the feature flag; --gradual also starts a background sweep toward it")
  .argument("<side>", "legacy or sharded")
  .option("--gradual", "sweep the stores nobody touches in the background")
  .addOption(rate)
  .action(async (side: string, o: { gradual?: boolean; usersPerSecond: string }) => {
    const { t, json } = connect();
    const flag = checked(sideSchema, side, "side");
    const s = await admin<MigrationStatus>(t, "/migration/flag", { flag, sweep: o.gradual ? "background" : "none", usersPerSecond: checked(count("--users-per-second", 1000), o.usersPerSecond, "--users-per-second") });
    console.log(json ? JSON.stringify(s) : describe(s));
  });

program
  .command("big-bang")
  .description("move every store now: flag to sharded, sweep with progress, then verify")
  .addOption(pageSize)
  .option("--dry-run", "print what would move and change nothing")
  .action(async (o: { pageSize: string; dryRun?: boolean }) => {
    const { t, json } = connect();
    const size = checked(count("--page-size", 500), o.pageSize, "--page-size");
    const before = await admin<MigrationStatus>(t, "/migration");
    const total = before.legacy.here + before.legacy.frozen;
    if (o.dryRun) {
      const plan = { dryRun: true, flag: { from: before.flag, to: "sharded" }, stores: total, pages: Math.ceil(total / size), alreadyMoved: before.legacy.elsewhere };
      console.log(json ? JSON.stringify(plan) : `dry run: would switch the flag ${before.flag} → sharded and move ${total} stores in ${plan.pages} pages of ${size} (${before.legacy.elsewhere} moved already); nothing changed`);
      return;
    }
    await admin(t, "/migration/flag", { flag: "sharded", sweep: "none" });
    const bar = json ? undefined : new cliProgress.SingleBar({ format: "moving  [{bar}] {value}/{total} stores | {rate}/s | ETA {eta_formatted}", hideCursor: true }, cliProgress.Presets.shades_classic);
    bar?.start(total, 0, { rate: "0" });
    const started = Date.now();
    let sweep: SweepStatus;
    do {
      sweep = await admin<SweepStatus>(t, "/migration/sweep", { pageSize: size });
      bar?.update(Math.min(sweep.migrated, total), { rate: (sweep.migrated / Math.max(0.001, (Date.now() - started) / 1000)).toFixed(0) });
    } while (!sweep.done);
    bar?.stop();
    const verified = await verify(t, json);
    const result = { moved: sweep.migrated, failed: sweep.failed, seconds: (Date.now() - started) / 1000, ...verified };
    if (json) console.log(JSON.stringify(result));
    else console.log(`moved ${result.moved} stores in ${result.seconds.toFixed(1)} s; verify: ${verified.exact}/${verified.checked} copies exact, ${verified.changedSince} changed since their move (writes after cut-over)`);
    if (verified.exact !== verified.checked || sweep.passFailed > 0) process.exit(1);
  });

program
  .command("gradual")
  .description("flag to sharded with a background sweep; stores also move on first access")
  .addOption(rate)
  .option("--detach", "start it and return")
  .action(async (o: { usersPerSecond: string; detach?: boolean }) => {
    const { t, json } = connect();
    const usersPerSecond = checked(count("--users-per-second", 1000), o.usersPerSecond, "--users-per-second");
    let s = await admin<MigrationStatus>(t, "/migration/flag", { flag: "sharded", sweep: "background", usersPerSecond });
    const total = s.legacy.here + s.legacy.frozen;
    if (o.detach) return void console.log(json ? JSON.stringify(s) : describe(s));
    const bar = json ? undefined : new cliProgress.SingleBar({ format: "sweeping [{bar}] {value}/{total} stores | ETA {eta_formatted}", hideCursor: true }, cliProgress.Presets.shades_classic);
    bar?.start(total, 0);
    while (!s.sweep?.done) {
      await new Promise((r) => setTimeout(r, 500));
      s = await admin<MigrationStatus>(t, "/migration");
      bar?.update(Math.min(total, total - s.legacy.here - s.legacy.frozen));
    }
    bar?.stop();
    console.log(json ? JSON.stringify(s) : describe(s));
  });

program
  .command("verify")
  .description("compare every moved store's legacy copy with the copy the sharded side took")
  .action(async () => {
    const { t, json } = connect();
    const v = await verify(t, json);
    if (json) console.log(JSON.stringify(v));
    else console.log(`${v.exact}/${v.checked} copies exact, ${v.changedSince} changed since their move${v.mismatched.length ? `; mismatched: ${v.mismatched.slice(0, 10).join(", ")}` : ""}`);
    if (v.exact !== v.checked) process.exit(1);
  });

/** Pages through verify; per-user rows and hashes, legacy against sharded. */
async function verify(t: AdminTarget, json: boolean): Promise<{ checked: number; exact: number; changedSince: number; mismatched: string[] }> {
  const out = { checked: 0, exact: 0, changedSince: 0, mismatched: [] as string[] };
  const bar = json ? undefined : new cliProgress.SingleBar({ format: "verify  [{bar}] {value} stores checked", hideCursor: true }, cliProgress.Presets.shades_classic);
  const status = await admin<MigrationStatus>(t, "/migration");
  bar?.start(status.legacy.elsewhere, 0);
  let after: string | null = null;
  do {
    const page: VerifyPage = await admin<VerifyPage>(t, `/migration/verify?limit=200${after ? `&after=${encodeURIComponent(after)}` : ""}`);
    for (const u of page.users) {
      out.checked++;
      if (u.copyExact) out.exact++;
      else out.mismatched.push(u.key);
      if (u.changedSince) out.changedSince++;
    }
    bar?.update(out.checked);
    after = page.next;
  } while (after !== null);
  bar?.stop();
  return out;
}

await program.parseAsync();
