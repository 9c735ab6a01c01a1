#!/usr/bin/env node
// Bundles the todo page's script (TinyBase included) into public/todo-page.js for the Worker's assets.
import { build } from "esbuild";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const appDir = join(dirname(fileURLToPath(import.meta.url)), "..");
await build({
  entryPoints: [join(appDir, "page/todo-page.ts")],
  outfile: join(appDir, "public/todo-page.js"),
  bundle: true,
  format: "esm",
  target: "es2022",
  minify: true,
  logLevel: "warning",
});
