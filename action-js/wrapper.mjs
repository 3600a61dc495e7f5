// The Node action: runs the wasm32-wasip2 component (transpiled by jco into build/) under the
// preview2 shim, and does what the shim cannot (docs/architecture.md, Distribution):
// - preopens the file system (the shim has none by default) and passes the working directory in
//   PWD, so that paths in inputs mean what they mean in the workspace; on Windows in the form the
//   shim's root preopen gives drives and shares (`/C:/a/b`), mapped back for the reports (paths.mjs);
// - carries out the component's output sink: the Rust side appends each write (GITHUB_OUTPUT,
//   GITHUB_STEP_SUMMARY, the audit, the errors log) as a record to a journal
//   (src/report/journal.rs), and this file replays the records onto the real files, in order,
//   when the process exits — also when the component exits through WASI's exit;
// - trusts the `ca-cert` input through NODE_EXTRA_CA_CERTS (TLS is Node's);
// - runs the docker credential helpers of the runner's config.json (credentials.mjs);
// - maps the result to the exit code: the journal's last record carries the code (a WASI exit
//   says only success or failure); a trap or a missing record is an internal error (exit 1).
// Bundled by esbuild into dist/index.mjs (scripts/build-dist.sh).
import { mkdtempSync, readFileSync, writeFileSync, appendFileSync, renameSync, mkdirSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { homedir, tmpdir } from "node:os";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import process from "node:process";
import { _setArgs, _setEnv, _setCwd } from "@bytecodealliance/preview2-shim/cli";
import { _setPreopens } from "@bytecodealliance/preview2-shim/filesystem";
import { resolveCredentialHelpers } from "./credentials.mjs";
import { compileCore } from "./core-module.mjs";
import { guestEnv, toGuest, toHost } from "./paths.mjs";

const INTERNAL = 1;
// Set by the wrapper for the component: the `ca-cert` input is in Node's trust store already.
const HOST_TRUSTS_CA = "IMAGE_PROMOTE_HOST_TRUSTS_CA";
const tempRoot = process.env.RUNNER_TEMP || tmpdir();
const journalDir = mkdtempSync(join(tempRoot, "image-promote-"));
const journal = join(journalDir, "sink.jsonl");

function replace(path, data) {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${Date.now()}-${process.pid}.tmp`);
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

// Replays the journal; returns the recorded exit code (undefined when none was recorded).
function replay() {
  let text;
  try {
    text = readFileSync(journal, "utf8");
  } catch {
    return undefined;
  }
  let code;
  for (const line of text.split("\n")) {
    if (!line) continue;
    const record = JSON.parse(line);
    if (record.op === "exit") {
      code = record.code;
      continue;
    }
    const path = toHost(record.path, process.cwd());
    const data = Buffer.from(record.data, "base64");
    if (record.op === "replace") replace(path, data);
    else if (record.op === "append") {
      mkdirSync(dirname(path), { recursive: true });
      appendFileSync(path, data);
    } else throw new Error(`unknown sink record ${record.op}`);
  }
  return code;
}

// Node reads extra CA certificates only at start (and the shim's HTTP runs in a worker thread):
// for a `ca-cert` input, the wrapper starts itself again with NODE_EXTRA_CA_CERTS naming them
// (with any the step already set), and the component is told that the host trusts them.
// A file that cannot be read is left to the component, whose input error names it (exit 2).
const readable = (path) => {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
};
const ca = process.env["INPUT_CA-CERT"]?.trim();
const caPem = !ca ? undefined : ca.startsWith("-----BEGIN") ? ca : readable(resolve(process.cwd(), ca));
if (caPem && !process.env[HOST_TRUSTS_CA]) {
  const pem = [caPem];
  const extra = process.env.NODE_EXTRA_CA_CERTS && readable(process.env.NODE_EXTRA_CA_CERTS);
  if (extra) pem.unshift(extra);
  const bundle = join(journalDir, "ca.pem");
  writeFileSync(bundle, pem.join("\n"));
  const child = spawnSync(process.execPath, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: "inherit",
    env: { ...process.env, NODE_EXTRA_CA_CERTS: bundle, [HOST_TRUSTS_CA]: "1" },
  });
  rmSync(journalDir, { recursive: true, force: true });
  process.exit(child.status ?? INTERNAL);
}

// From here on the component runs in this process: its core module starts compiling now.
compileCore().catch(() => {});

let finished = false;
function finish(fallback) {
  if (finished) return;
  finished = true;
  let code;
  try {
    code = replay();
  } catch (e) {
    process.stderr.write(`error: cannot write the reports: ${e.message}\n`);
    code = INTERNAL;
  }
  rmSync(journalDir, { recursive: true, force: true });
  process.exitCode = code ?? fallback;
  return code;
}

// WASI's exit ends the process at once (process.exit): the reports are written on the way out.
process.on("exit", (status) => finish(status === 0 ? 0 : INTERNAL));

_setArgs(["image-promote", ...process.argv.slice(2)]);
const helped = resolveCredentialHelpers(process.env, journalDir, (m) => process.stderr.write(m));
// On Windows `/` is every drive and share, and paths are handed over in the guest's form (paths.mjs).
const env = { ...process.env, ...helped, PWD: process.cwd(), IMAGE_PROMOTE_SINK_JOURNAL: journal };
_setEnv(guestEnv(env, homedir()));
_setCwd(toGuest(process.cwd()));
_setPreopens({ "/": "/" });

try {
  const { run } = await import("./build/image-promote.js");
  run.run();
  finish(0);
} catch (e) {
  // A failed command's `run` returns an error too (jco throws it): the component has reported
  // it and recorded its exit code. Anything else (a trap) is the wrapper's to report.
  if (finish(INTERNAL) === undefined) {
    process.stderr.write(`error: the image-promote component failed: ${e?.message ?? e}\n`);
  }
}
