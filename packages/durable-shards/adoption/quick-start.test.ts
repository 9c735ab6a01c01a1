/**
 * Adoption: the library as a new user gets it. `npm pack` the package, install the tarball into a
 * new app outside the workspace, copy the README's quick start into it as written, type-check it
 * against `wrangler types` output under the create-cloudflare Durable Object template's
 * tsconfig (and under `bundler` and `node16` resolution), then start it with `wrangler dev` and
 * make routed requests.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../../tools/free-port.js";

const packageDir = join(import.meta.dirname, "..");
const workspaceRequire = createRequire(join(packageDir, "package.json"));
const wranglerBin = workspaceRequire.resolve("wrangler/bin/wrangler.js");
const tscBin = workspaceRequire.resolve("typescript/bin/tsc");
const workersTypesVersion = (workspaceRequire("@cloudflare/workers-types/package.json") as { version: string }).version;

/** The create-cloudflare `hello-world-durable-object` TypeScript template's compiler options. */
const TEMPLATE_TSCONFIG = {
  compilerOptions: {
    target: "es2021",
    lib: ["es2021"],
    jsx: "react-jsx",
    module: "es2022",
    moduleResolution: "node",
    types: ["@cloudflare/workers-types"],
    resolveJsonModule: true,
    allowJs: true,
    checkJs: false,
    noEmit: true,
    isolatedModules: true,
    allowSyntheticDefaultImports: true,
    forceConsistentCasingInFileNames: true,
    strict: true,
    skipLibCheck: true,
  },
};

/** The fenced blocks of `lang` in the README's "Quick start" section, in order. */
export function quickStartBlocks(readme: string, lang: string): string[] {
  const section = readme.slice(readme.indexOf("## Quick start"));
  const body = section.slice(0, section.indexOf("\n## ", 3));
  return [...body.matchAll(new RegExp("```" + lang + "\\n([\\s\\S]*?)\\n```", "g"))].map((m) => m[1]! + "\n");
}

function run(command: string, args: string[], cwd: string): { status: number | null; output: string } {
  const result = spawnSync(command, args, { cwd, encoding: "utf8", env: { ...process.env, WRANGLER_SEND_METRICS: "false" } });
  return { status: result.status, output: `${result.stdout ?? ""}${result.stderr ?? ""}` };
}

let root = "";
let app = "";
let dev: ChildProcess | undefined;
let devOutput = "";

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "durable-shards-adoption-"));
  app = join(root, "app");
  mkdirSync(join(app, "src"), { recursive: true });

  const packed = run("npm", ["pack", "--silent", "--pack-destination", root], packageDir);
  expect(packed.status, packed.output).toBe(0);
  const tarball = readdirSync(root).find((f) => f.endsWith(".tgz"));
  expect(tarball, packed.output).toBeDefined();

  writeFileSync(
    join(app, "package.json"),
    JSON.stringify(
      { name: "adoption-app", private: true, type: "module", dependencies: { "durable-shards": `file:../${tarball}` }, devDependencies: { "@cloudflare/workers-types": workersTypesVersion } },
      null,
      2,
    ),
  );
  const installed = run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error"], app);
  expect(installed.status, installed.output).toBe(0);

  const readme = readFileSync(join(packageDir, "README.md"), "utf8");
  const [source] = quickStartBlocks(readme, "ts");
  const [config] = quickStartBlocks(readme, "jsonc");
  writeFileSync(join(app, "src", "index.ts"), source!);
  writeFileSync(join(app, "wrangler.jsonc"), config!);
  writeFileSync(join(app, "tsconfig.json"), JSON.stringify(TEMPLATE_TSCONFIG, null, 2));
  writeFileSync(join(app, "tsconfig.bundler.json"), JSON.stringify({ extends: "./tsconfig.json", compilerOptions: { moduleResolution: "bundler" } }));
  // The template skips checking declaration files; the library's must pass that check too.
  writeFileSync(join(app, "tsconfig.libcheck.json"), JSON.stringify({ extends: "./tsconfig.json", compilerOptions: { skipLibCheck: false } }));

  // The Env types as a user generates them; the template's tsconfig brings the runtime types.
  const typed = run(process.execPath, [wranglerBin, "types", "--include-runtime=false"], app);
  expect(typed.status, typed.output).toBe(0);
}, 240_000);

afterAll(async () => {
  if (dev?.pid && dev.exitCode === null) {
    const exited = new Promise((resolve) => dev!.once("exit", resolve));
    process.kill(-dev.pid, "SIGTERM");
    await exited;
  }
  // ADOPTION_KEEP=1 keeps the app for a look at what failed.
  if (root && !process.env.ADOPTION_KEEP) rmSync(root, { recursive: true, force: true });
  else if (root) console.log(`adoption app kept in ${app}`);
}, 30_000);

describe("the README's quick start in a new app", () => {
  it("has a packed tarball with built JS, declarations, the license and both entry points", () => {
    const listing = run("tar", ["-tzf", join(root, readdirSync(root).find((f) => f.endsWith(".tgz"))!)], root).output.split("\n");
    for (const file of ["package/LICENSE", "package/README.md", "package/dist/index.js", "package/dist/index.d.ts", "package/dist/core.js", "package/dist/core.d.ts"]) {
      expect(listing).toContain(file);
    }
    const manifest = JSON.parse(readFileSync(join(app, "node_modules", "durable-shards", "package.json"), "utf8")) as { license: string };
    expect(manifest.license).toBe("MIT");
  });

  it("type-checks with wrangler-generated Env types under the template's tsconfig (also checking declarations), and with bundler and node16 resolution", () => {
    const generated = readFileSync(join(app, "worker-configuration.d.ts"), "utf8");
    expect(generated).toMatch(/DIRECTORY: DurableObjectNamespace<import\("\.\/src\/index"\)\.Directory>/);
    // wrangler writes `import("./src/index")`, which node16's ECMAScript resolution refuses (it wants
    // the extension): that variant reads a copy with the extension added, nothing else changed.
    mkdirSync(join(app, "node16"), { recursive: true });
    writeFileSync(join(app, "node16", "worker-configuration.d.ts"), generated.replaceAll('import("./src/index")', 'import("../src/index.js")'));
    writeFileSync(
      join(app, "tsconfig.node16.json"),
      JSON.stringify({ extends: "./tsconfig.json", compilerOptions: { module: "node16", moduleResolution: "node16" }, include: ["src", "node16"] }),
    );
    // durable-shards/core must resolve too, under every resolution mode.
    writeFileSync(join(app, "src", "core-import.ts"), 'import { slotForKey } from "durable-shards/core";\nexport const slot: number = slotForKey("k", 16);\n');
    for (const project of ["tsconfig.json", "tsconfig.libcheck.json", "tsconfig.bundler.json", "tsconfig.node16.json"]) {
      const checked = run(process.execPath, [tscBin, "--noEmit", "-p", project], app);
      expect(checked.status, `${project}:\n${checked.output}`).toBe(0);
    }
    rmSync(join(app, "src", "core-import.ts"));
  }, 120_000);

  it("starts with wrangler dev and serves routed requests, none of them logged as an exception", async () => {
    const port = await freePort();
    dev = spawn(process.execPath, [wranglerBin, "dev", "--ip", "127.0.0.1", "--port", String(port), "--persist-to", join(root, "state"), "--show-interactive-dev-session=false"], {
      cwd: app,
      env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    dev.stdout!.on("data", (chunk) => (devOutput += chunk));
    dev.stderr!.on("data", (chunk) => (devOutput += chunk));
    const base = `http://127.0.0.1:${port}`;
    const get = async (path: string) => (await fetch(`${base}${path}`, { signal: AbortSignal.timeout(20_000) })).json();
    const deadline = Date.now() + 90_000;
    let first: unknown;
    while (first === undefined && Date.now() < deadline && dev.exitCode === null) {
      first = await get("/?key=user:42").catch(() => undefined);
      if (first === undefined) await new Promise((r) => setTimeout(r, 300));
    }
    expect(first, devOutput).toEqual({ key: "user:42", n: 1 });
    expect(await get("/?key=user:42")).toEqual({ key: "user:42", n: 2 });
    expect(await get("/?key=user:7")).toEqual({ key: "user:7", n: 1 });
    expect(await get("/")).toEqual({ total: 3, complete: true });
    // The router's first use created the keyspace; nothing on the way was an exception.
    expect(devOutput).not.toMatch(/Uncaught|uncaught exception/);
  }, 150_000);
});


