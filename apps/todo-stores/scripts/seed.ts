/**
 * `npm run -w apps/todo-stores seed -- [--users 1000] [--todos 5] [--url …]`: fills the store with
 * many users' todos over the HTTP contract, each user with its own token, as the legacy app's
 * users would have; with the flag on `legacy` (the default), everything lands in `default-store`.
 */
import { Command } from "commander";
import cliProgress from "cli-progress";
import { z } from "zod";
import { signToken } from "../src/auth.js";
import { admin, target } from "./admin-client.js";
import { checked, setting, urlSchema } from "./local.js";
import type { MigrationStatus } from "../src/migration-status.js";

const program = new Command("seed")
  .description("fill the app with many users' todos")
  .option("--users <n>", "users", "1000")
  .option("--todos <n>", "todos per user", "5")
  .option("--concurrency <n>", "saves in flight", "16")
  .option("--url <url>", "the app's base URL (default TODO_STORES_URL or http://127.0.0.1:8788)")
  .option("--token <token>", "the admin token (default ADMIN_TOKEN or .dev.vars)")
  .action(async (o: { users: string; todos: string; concurrency: string; url?: string; token?: string }) => {
    const users = checked(z.coerce.number().int().min(1).max(100_000), o.users, "--users");
    const perUser = checked(z.coerce.number().int().min(1).max(1_000), o.todos, "--todos");
    const concurrency = checked(z.coerce.number().int().min(1).max(256), o.concurrency, "--concurrency");
    if (o.url !== undefined) checked(urlSchema, o.url, "--url");
    const t = target(o);
    const secret = setting("TOKEN_SECRET");
    if (!secret) {
      console.error("no TOKEN_SECRET: start the app once (npm run -w apps/todo-stores start) or set it in the environment");
      process.exit(2);
    }
    const status = await admin<MigrationStatus>(t, "/migration");
    if (status.flag !== "legacy") console.warn(`note: the flag is '${status.flag}', so these stores are written on the sharded side`);
    const bar = new cliProgress.SingleBar({ format: "seeding [{bar}] {value}/{total} users | ETA {eta_formatted}", hideCursor: true }, cliProgress.Presets.shades_classic);
    bar.start(users, 0);
    let next = 0;
    let failed = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < users) {
          const userId = `user${String(next++).padStart(5, "0")}`;
          const rows = Object.fromEntries(Array.from({ length: perUser }, (_, i) => [`t${i}`, { text: `${userId}: todo ${i}`, done: i % 2 === 0, at: i }]));
          const response = await fetch(`${t.url}/api/${userId}/save`, {
            method: "POST",
            headers: { authorization: `Bearer ${await signToken(secret, { userId })}`, "content-type": "application/json" },
            body: JSON.stringify([{ todos: rows }, {}]),
          });
          if (!response.ok) failed++;
          await response.body?.cancel();
          bar.increment();
        }
      }),
    );
    bar.stop();
    console.log(`seeded ${users - failed} users with ${perUser} todos each${failed ? `; ${failed} failed` : ""}`);
    if (failed) process.exit(1);
  });
await program.parseAsync();
