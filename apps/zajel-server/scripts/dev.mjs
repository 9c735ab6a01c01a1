#!/usr/bin/env node
// Starts the server locally: workerd through `wrangler dev`, local SQLite storage under
// .wrangler/state, on 127.0.0.1:$PORT (default 8787).
//
// Secrets come from the environment or from .dev.vars, as with wrangler. When .dev.vars is
// missing it is created with freshly generated dev secrets. Because wrangler ignores the
// environment once .dev.vars exists, the two are merged here (environment wins) into a private
// file under .wrangler/ that is handed to wrangler with --env-file.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { CONFIG_NAMES, formatDevVars, generateDevVars, parseDevVars, publicKeyOfSeed } from "./dev-vars.mjs";

const appDir = join(dirname(fileURLToPath(import.meta.url)), "..");
const devVarsPath = join(appDir, ".dev.vars");
const port = process.env.PORT ?? "8787";

if (!existsSync(devVarsPath)) {
  const generated = generateDevVars();
  writeFileSync(devVarsPath, formatDevVars(generated), { mode: 0o600 });
  console.log(`Created ${devVarsPath} with fresh dev secrets:`);
  for (const [name, value] of Object.entries(generated)) console.log(`  ${name}=${value}`);
}
let vars = parseDevVars(readFileSync(devVarsPath, "utf8"));
// A .dev.vars from before a secret was added gets it now, generated like the others.
const added = Object.entries(generateDevVars()).filter(([name]) => vars[name] === undefined && name !== "DEV_MODE");
if (added.length > 0) {
  vars = { ...vars, ...Object.fromEntries(added) };
  writeFileSync(devVarsPath, formatDevVars(vars), { mode: 0o600 });
  console.log(`Added to ${devVarsPath}: ${added.map(([name]) => name).join(", ")}`);
}
for (const name of CONFIG_NAMES) {
  if (process.env[name] !== undefined) vars[name] = process.env[name];
}
if (vars.BOOTSTRAP_SIGNING_KEY) {
  try {
    console.log(`Bootstrap public key (base64, raw 32 bytes): ${publicKeyOfSeed(vars.BOOTSTRAP_SIGNING_KEY)}`);
  } catch (error) {
    console.warn(`BOOTSTRAP_SIGNING_KEY is not a 64-hex-character Ed25519 seed: ${error.message}`);
  }
}
const stateDir = join(appDir, ".wrangler");
mkdirSync(stateDir, { recursive: true });
// One file per process, so two servers started at once never read each other's settings.
const mergedPath = join(stateDir, `dev-vars.${process.pid}.merged`);
writeFileSync(mergedPath, formatDevVars(vars), { mode: 0o600 });
process.on("exit", () => rmSync(mergedPath, { force: true }));

const wrangler = createRequire(import.meta.url).resolve("wrangler/bin/wrangler.js");
const args = [
  wrangler,
  "dev",
  "--ip",
  "127.0.0.1",
  "--port",
  port,
  "--persist-to",
  join(stateDir, "state"),
  "--env-file",
  mergedPath,
  "--show-interactive-dev-session=false",
  ...process.argv.slice(2),
];
console.log(`Starting the server on http://127.0.0.1:${port} (GET /health)`);
if (vars.ADMIN_TOKEN) {
  console.log(`Dashboard: http://127.0.0.1:${port}/_shards/#token=${vars.ADMIN_TOKEN}`);
  console.log(`CLI: DURABLE_SHARDS_URL=http://127.0.0.1:${port}/_shards DURABLE_SHARDS_TOKEN=${vars.ADMIN_TOKEN} npx durable-shards status`);
}
const child = spawn(process.execPath, args, {
  cwd: appDir,
  stdio: "inherit",
  env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
});
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => child.kill(signal));
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
