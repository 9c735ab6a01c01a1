// Starting an app locally the way its README says: workerd through `wrangler dev`, local state
// under <app>/.wrangler/state, secrets from the environment or <app>/.dev.vars.
//
// When .dev.vars is missing it is created with freshly generated dev secrets, and a .dev.vars from
// before a secret was added gets it. Because wrangler ignores the environment once .dev.vars
// exists, the two are merged here (environment wins) into a private file under .wrangler/ that is
// handed to wrangler with --env-file.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

export function parseDevVars(text) {
  const vars = {};
  for (const line of text.split(/\r?\n/)) {
    const match = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (!match || line.trimStart().startsWith("#")) continue;
    vars[match[1]] = match[2].replace(/^"(.*)"$/, "$1");
  }
  return vars;
}

export function formatDevVars(vars) {
  const lines = ["# Local development secrets; never commit. Delete this file to generate new ones."];
  for (const [name, value] of Object.entries(vars)) lines.push(`${name}=${value}`);
  return `${lines.join("\n")}\n`;
}

/**
 * The app's dev settings: <appDir>/.dev.vars (created, or completed, with `generate()`'s values
 * except those named in `keepOut`), then the environment's values of `configNames` over them.
 */
export function devVars(appDir, { generate, configNames, keepOut = [] }) {
  const path = join(appDir, ".dev.vars");
  if (!existsSync(path)) {
    const generated = generate();
    writeFileSync(path, formatDevVars(generated), { mode: 0o600 });
    console.log(`Created ${path} with fresh dev secrets:`);
    for (const [name, value] of Object.entries(generated)) console.log(`  ${name}=${value}`);
  }
  let vars = parseDevVars(readFileSync(path, "utf8"));
  const added = Object.entries(generate()).filter(([name]) => vars[name] === undefined && !keepOut.includes(name));
  if (added.length > 0) {
    vars = { ...vars, ...Object.fromEntries(added) };
    writeFileSync(path, formatDevVars(vars), { mode: 0o600 });
    console.log(`Added to ${path}: ${added.map(([name]) => name).join(", ")}`);
  }
  for (const name of configNames) {
    if (process.env[name] !== undefined) vars[name] = process.env[name];
  }
  return vars;
}

/** Runs `wrangler dev` for the app in `appDir` on 127.0.0.1:`port` with `vars`; exits with it. */
export function startWrangler(appDir, port, vars, args = []) {
  const stateDir = join(appDir, ".wrangler");
  mkdirSync(stateDir, { recursive: true });
  // One file per process, so two servers started at once never read each other's settings.
  const mergedPath = join(stateDir, `dev-vars.${process.pid}.merged`);
  writeFileSync(mergedPath, formatDevVars(vars), { mode: 0o600 });
  process.on("exit", () => rmSync(mergedPath, { force: true }));
  const wrangler = createRequire(import.meta.url).resolve("wrangler/bin/wrangler.js");
  const child = spawn(
    process.execPath,
    [wrangler, "dev", "--ip", "127.0.0.1", "--port", port, "--persist-to", join(stateDir, "state"), "--env-file", mergedPath, "--show-interactive-dev-session=false", ...args],
    { cwd: appDir, stdio: "inherit", env: { ...process.env, WRANGLER_SEND_METRICS: "false" } },
  );
  for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => child.kill(signal));
  child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
  return child;
}
