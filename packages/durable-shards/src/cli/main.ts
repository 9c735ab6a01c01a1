#!/usr/bin/env node
/**
 * `durable-shards`: the operator's CLI, a client of the admin API (`admin.ts`). The command names
 * are a contract. Every command takes `--json`, exits 0 on success, and on failure prints one
 * line (`error: …`) and exits 1 (2 for a usage error), never a stack trace for an expected error.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { keyspaceNameSchema } from "../schema.js";
import { CliError, connection, request, type Connection } from "./client.js";
import { bytes, number, plan, table } from "./format.js";
import { watchChange, watchJob, type Job } from "./progress.js";

function keyspaceArg(value: string): string {
  const checked = keyspaceNameSchema.safeParse(value);
  if (!checked.success) throw new InvalidArgumentError(checked.error.issues[0]?.message ?? "bad keyspace name");
  return value;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("must be a positive integer");
  return n;
}

interface Globals {
  url?: string;
  token?: string;
  json?: boolean;
}

/** The program; `out` and `err` are where it prints (so tests can capture them). */
export function program(out: (text: string) => void = (t) => process.stdout.write(`${t}\n`), err: (text: string) => void = (t) => process.stderr.write(`${t}\n`)): Command {
  const cli = new Command("durable-shards")
    .description("Operate a durable-shards deployment through its admin API.")
    .addOption(new Option("--url <url>", "admin API base URL, e.g. http://127.0.0.1:8787/_shards").env("DURABLE_SHARDS_URL"))
    .addOption(new Option("--token <token>", "admin bearer token").env("DURABLE_SHARDS_TOKEN"))
    .option("--json", "print JSON for scripts")
    .showHelpAfterError(false)
    .configureOutput({ writeOut: (s) => out(s.trimEnd()), writeErr: (s) => err(s.trimEnd()) })
    .exitOverride();

  const globals = (): Globals => cli.opts<Globals>();
  const conn = (): Connection => connection(globals());
  const emit = (value: unknown, text: () => string) => out(globals().json ? JSON.stringify(value, null, 2) : text());
  /** Ctrl-C while following: the work goes on on the server; with --json, say so as JSON too. */
  const detached = (what: Record<string, string>, text: string) => emit({ detached: true, ...what }, () => `detached: ${text}`);
  /** How progress is shown: bars on a terminal, lines in a pipe, nothing with --json. */
  const mode = () => (globals().json ? "quiet" : process.stdout.isTTY ? "bars" : "lines") as "bars" | "lines" | "quiet";
  const path = (keyspace: string, rest = "") => `/keyspaces/${encodeURIComponent(keyspace)}${rest}`;

  cli.command("status").description("keyspaces, their shards and running changes, and firing alerts").action(async () => {
    const status = await request<{ keyspaces: { name: string; placement: string; version: number; slotCount: number; shards: { id: string }[]; change: { phase: string; version: number } | null }[]; alerts: { keyspace: string; name: string; severity: string; message: string }[] }>(conn(), "GET", "/status");
    emit(status, () => {
      const lines = [table(status.keyspaces.map((k) => [k.name, k.placement, k.version, k.shards.length, k.slotCount, k.change ? `v${k.change.version} ${k.change.phase}` : "-"]), ["keyspace", "placement", "version", "shards", "slots", "last change"])];
      lines.push(status.alerts.length === 0 ? "alerts: none firing" : `alerts:\n${status.alerts.map((a) => `  ${a.severity} ${a.keyspace} ${a.name}: ${a.message}`).join("\n")}`);
      return lines.join("\n");
    });
  });

  cli.command("map").argument("<keyspace>", "keyspace", keyspaceArg).description("the keyspace's slot map: shards, their slots and load").action(async (keyspace: string) => {
    const [info, metrics] = await Promise.all([
      request<{ version: number; slotCount: number; pendingVersion?: number; shards: { id: string; slots: number; locationHint?: string }[] }>(conn(), "GET", path(keyspace)),
      request<{ shards: { shard: string; load: number; storageBytes: number; up: boolean }[] }>(conn(), "GET", path(keyspace, "/shards")),
    ]);
    emit({ ...info, metrics: metrics.shards }, () => {
      const load = new Map(metrics.shards.map((s) => [s.shard, s]));
      return [
        `${keyspace}: map version ${info.version}, ${number(info.slotCount)} slots${info.pendingVersion ? `, change to v${info.pendingVersion} in progress` : ""}`,
        table(info.shards.map((s) => [s.id, number(s.slots), number(load.get(s.id)?.load ?? 0), bytes(load.get(s.id)?.storageBytes ?? 0), load.get(s.id)?.up === false ? "down" : "up"]), ["shard", "slots", "calls/s", "storage", ""]),
      ].join("\n");
    });
  });

  cli.command("top").argument("<keyspace>", "keyspace", keyspaceArg).description("the keyspace's hot keys").action(async (keyspace: string) => {
    const hot = await request<{ keys: { key: string; shard: string; slot: number; count: number }[]; errorBound: number }>(conn(), "GET", path(keyspace, "/hot-keys"));
    emit(hot, () => `${table(hot.keys.map((k) => [k.key, k.shard, k.slot, number(k.count)]), ["key", "shard", "slot", "calls"])}\ncounts are at most ${number(hot.errorBound)} above the truth`);
  });

  /** Starts (or plans) a change, then with --wait follows it to the end. */
  const change = async (keyspace: string, route: string, body: Record<string, unknown>, options: { dryRun?: boolean; wait?: boolean }) => {
    const result = await request<Parameters<typeof plan>[0]>(conn(), "POST", path(keyspace, route), { ...body, ...(options.dryRun ? { dryRun: true } : {}) });
    if (!options.wait || !result.started) return emit(result, () => plan(result));
    if (!globals().json) out(plan(result));
    const end = await watchChange(conn(), keyspace, mode(), out);
    if (end === undefined) return detached({ keyspace }, "the change goes on on the server (follow it with `durable-shards change`)");
    emit(end, () => `done: map version ${end.version}, ${end.totals.movesDone} moves, ${number(end.totals.slotsMoved)} slots, ${bytes(end.totals.bytes)} copied`);
  };
  const changeOptions = (command: Command) =>
    command.option("--dry-run", "print the plan and the predicted balance; change nothing").option("--wait", "follow the change with progress bars until it is done").option("--copy-rate <bytes/s>", "copy rate limit while sources serve", positiveInt);
  const limits = (options: { copyRate?: number }) => (options.copyRate ? { copyBytesPerSecond: options.copyRate } : {});

  changeOptions(cli.command("add-shards").argument("<keyspace>", "keyspace", keyspaceArg).argument("<n>", "shards to add", positiveInt).description("add n shards and move them their share of slots, online")).action(
    async (keyspace: string, n: number, options: { dryRun?: boolean; wait?: boolean; copyRate?: number }) => change(keyspace, "/add-shards", { shards: n, ...limits(options) }, options),
  );
  changeOptions(cli.command("remove-shards").argument("<keyspace>", "keyspace", keyspaceArg).argument("<shard...>", "shard ids").description("move the shards' slots to the others, then remove them")).action(
    async (keyspace: string, shards: string[], options: { dryRun?: boolean; wait?: boolean; copyRate?: number }) => change(keyspace, "/remove-shards", { shards, ...limits(options) }, options),
  );
  changeOptions(
    cli
      .command("rebalance")
      .argument("<keyspace>", "keyspace", keyspaceArg)
      .addOption(new Option("--by <what>", "what to even out").choices(["load", "slots", "storage"]).default("slots"))
      .option("--max-slots <n>", "most slots this change moves", positiveInt)
      .description("even out slots, measured load or storage"),
  ).action(async (keyspace: string, options: { by: string; maxSlots?: number; dryRun?: boolean; wait?: boolean; copyRate?: number }) =>
    change(keyspace, "/rebalance", { by: options.by, ...(options.maxSlots ? { maxSlots: options.maxSlots } : {}), ...limits(options) }, options),
  );

  cli.command("change").argument("<keyspace>", "keyspace", keyspaceArg).description("follow the keyspace's change (Ctrl-C detaches; it does not abort)").action(async (keyspace: string) => {
    const end = await watchChange(conn(), keyspace, mode(), out);
    if (end === undefined) return detached({ keyspace }, "the change goes on on the server");
    emit(end, () => `done: map version ${end.version}, ${end.totals.movesDone} moves, ${number(end.totals.slotsMoved)} slots`);
  });

  cli.command("abort").argument("<keyspace>", "keyspace", keyspaceArg).description("roll back the keyspace's change that has not committed").action(async (keyspace: string) => {
    const status = await request<{ version: number; phase: string; rollbackReason?: string }>(conn(), "POST", path(keyspace, "/change/abort"));
    emit(status, () => `change v${status.version}: ${status.phase}${status.rollbackReason ? ` (${status.rollbackReason})` : ""}`);
  });

  cli.command("diagnose").argument("<keyspace>", "keyspace", keyspaceArg).description("what is wrong with the keyspace's change, and what to do").action(async (keyspace: string) => {
    const d = await request<{ healthy: boolean; problems?: string[]; next?: string; actions?: string[] } & Record<string, unknown>>(conn(), "GET", path(keyspace, "/diagnose"));
    emit(d, () => JSON.stringify(d, null, 2));
  });

  cli.command("alerts").option("--all", "also alerts not firing").description("alerts of every keyspace").action(async (options: { all?: boolean }) => {
    const alerts = await request<{ keyspace: string; name: string; severity: string; shard: string; firing: boolean; message: string }[]>(conn(), "GET", `/alerts${options.all ? "?all=1" : ""}`);
    emit(alerts, () => (alerts.length === 0 ? "no alerts firing" : table(alerts.map((a) => [a.firing ? "FIRING" : "ok", a.severity, a.keyspace, a.name, a.shard, a.message]), ["state", "severity", "keyspace", "alert", "shard", "message"])));
  });

  cli.command("backup").argument("<keyspace>", "keyspace", keyspaceArg).option("--wait", "follow the backup until it is done").description("back the keyspace up to R2").action(async (keyspace: string, options: { wait?: boolean }) => {
    const job = await request<Job>(conn(), "POST", path(keyspace, "/backups"));
    if (!options.wait) return emit(job, () => `started backup ${job.id} (follow it with --wait, list it with \`durable-shards backups ${keyspace}\`)`);
    const end = await watchJob(conn(), job.id, mode(), out);
    if (end === undefined) return detached({ id: job.id }, `backup ${job.id} goes on on the server`);
    emit(end, () => `backup ${end.id} done: ${number(end.rows)} rows, ${bytes(end.bytes)}`);
  });

  cli.command("backups").argument("<keyspace>", "keyspace", keyspaceArg).description("the keyspace's backups, newest first").action(async (keyspace: string) => {
    const list = await request<{ id: string; startedAt: number; rows: number; bytes: number; version: number; scheduled: boolean }[]>(conn(), "GET", path(keyspace, "/backups"));
    emit(list, () => (list.length === 0 ? `no backups of ${keyspace}` : table(list.map((b) => [b.id, new Date(b.startedAt).toISOString(), number(b.rows), bytes(b.bytes), `v${b.version}`, b.scheduled ? "scheduled" : "manual"]), ["backup", "taken", "rows", "size", "map", ""])));
  });

  cli
    .command("restore")
    .argument("<keyspace>", "keyspace", keyspaceArg)
    .argument("<backup-id>", "backup id")
    .option("--into <keyspace>", "restore into a new keyspace instead of replacing this one's rows", keyspaceArg)
    .option("--wait", "follow the restore until it is done (default: it is followed unless --no-wait)", true)
    .option("--no-wait", "start the restore and return")
    .description("restore a backup, checked against its manifest")
    .action(async (keyspace: string, backupId: string, options: { into?: string; wait: boolean }) => {
      const job = await request<Job>(conn(), "POST", path(keyspace, `/backups/${encodeURIComponent(backupId)}/restore`), options.into ? { into: options.into } : {});
      if (!options.wait) return emit(job, () => `started restore ${job.id}`);
      const end = await watchJob(conn(), job.id, mode(), out);
      if (end === undefined) return detached({ id: job.id }, `restore ${job.id} goes on on the server`);
      emit(end, () => `restored ${backupId} into ${options.into ?? keyspace}: ${number(end.rows)} rows, checksums ${end.verified ? "equal" : "not checked"}`);
    });

  return cli;
}

/** Runs the CLI with `argv`; returns the exit code. */
export async function run(argv: string[], out?: (text: string) => void, err: (text: string) => void = (t) => process.stderr.write(`${t}\n`)): Promise<number> {
  const cli = program(out, err);
  try {
    await cli.parseAsync(argv, { from: "user" });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.code === "commander.helpDisplayed" || error.code === "commander.version" || error.exitCode === 0 ? 0 : 2;
    if (error instanceof CliError) {
      err(`error: ${error.message}`);
      return 1;
    }
    err(`error: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}

// Run when executed (the bin), not when imported by tests.
const entry = process.argv[1] ?? "";
if (import.meta.url === `file://${entry}` || /durable-shards(\.js)?$|cli[\\/]main\.js$/.test(entry)) {
  void run(process.argv.slice(2)).then((code) => process.exit(code));
}
