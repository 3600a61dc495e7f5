// Bundles wrapper.mjs (+ the jco output in build/ and the preview2 shim) into dist/index.mjs, and
// copies the shim's worker file next to it (the shim loads it by URL; esbuild cannot inline it),
// and ours (http-worker.mjs, loaded by host-http.mjs the same way; Node's modules only).
// Patches to the pinned shim (0.26.1), applied here and refused if the code moved:
// - its openAt rejects the `mutate-directory` flag that wasi-libc sets on every open for writing,
//   so the component could not append to its sink journal (wasmtime accepts the flag);
// - an outgoing HTTP body is a PassThrough with Node's default high-water mark (16 KiB on
//   Node 20), and `check-write` grants no more than that: every 64 KiB chunk of an upload took
//   four check-write/write round trips to the shim's worker thread. With 1 MiB it takes one
//   (a 1 GiB upload: 16 k round trips instead of 65 k; measured 14.4 s → 7.2 s on Node 20 here);
// - and `write` on an HTTP body answers with the permit left after it, which the next
//   `check-write` returns without another round trip (a lower bound: the stream only drains in
//   between; used once, then asked again; the worker still refuses a write over the real limit).
//   wstd writes as check-write, write, check-write, …: half of an upload's round trips go;
// - a call to the worker transfers (instead of cloning) a byte payload that owns its whole buffer:
//   jco lowers every `list<u8>` the component passes to a fresh copy of wasm memory, used once
//   (cloning 1 GiB of upload chunks cost the main thread about 2 s of 7.5 here);
// - an HTTP response body reads ahead: the main thread asks the worker for up to 1 MiB (the
//   response's high-water mark raised to match) and serves the component's 64 KiB reads (wstd's
//   frame size) from what it holds, in order, before it asks again.
// - stdout and stderr, which the main thread writes itself, ask the worker nothing: their
//   `check-write` grants 16 KiB (what the worker answered: its idle stream's high-water mark) and
//   `blocking-flush` returns (the worker did nothing either); two round trips per log line;
// - `node:http` is taken by `require`, not imported as an ES module, on both threads (an import
//   runs the lazy getters that load undici on Node 22+: about 60 ms of Node 24's start here);
// - every builtin of both bundles is taken by `require`, hoisted (requireBuiltins below): an ES
//   module import of a builtin runs all of its getters (process: allowedNodeEnvironmentFlags,
//   stdin; http: undici);
// - the worker transfers the bytes of an answer (a response body read ahead) instead of cloning;
// - the worker loads our http-worker.mjs (and reads the TLS trust store) as soon as it starts,
//   beside the main thread's compile, instead of at the first request (50–60 ms of it here);
// And three to jco's output: its loader takes the core module compiled early (core-module.mjs),
// its debug log asks the environment once, not on every call, and the bytes to hash are a view.
import { build } from "esbuild";
import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));
const out = process.argv[2];
const shimDir = `${here}node_modules/@bytecodealliance/preview2-shim/dist`;
const FLAGGED = "descriptorFlags.requestedWriteSync || descriptorFlags.mutateDirectory";

// Applies [from, to] edits to the text of `path`; each `from` must occur exactly once.
const patch = (path, text, edits) => {
  for (const [from, to] of edits) {
    if (text.split(from).length !== 2) {
      throw new Error(`${path}: the code to patch is gone or ambiguous (shim upgraded?): ${from.slice(0, 60)}`);
    }
    text = text.replace(from, to);
  }
  return text;
};
const PERMIT_CACHE = [
  [
    "    checkWrite() {\n",
    "    #permit = 0n;\n    checkWrite() {\n        if (this.#streamType === HTTP && this.#permit > 0n) {\n            const permit = this.#permit;\n            this.#permit = 0n;\n            return permit;\n        }\n",
  ],
  [
    "        return streamIoErrorCall(OUTPUT_STREAM_WRITE | this.#streamType, this.#id, buf);\n",
    "        const left = streamIoErrorCall(OUTPUT_STREAM_WRITE | this.#streamType, this.#id, buf);\n        this.#permit = typeof left === \"bigint\" ? left : 0n;\n        return;\n",
  ],
];

// stdout and stderr are written on this thread (synchronously); the worker's answers to their
// `check-write` (its own idle stream's free space) and `blocking-flush` (nothing) need no trip.
const STDIO_LOCAL = [
  [
    "    checkWrite() {\n",
    "    checkWrite() {\n        if (this.#streamType <= STDERR) {\n            return 16384n;\n        }\n",
  ],
  [
    "    blockingFlush() {\n",
    "    blockingFlush() {\n        if (this.#streamType <= STDERR) {\n            return;\n        }\n",
  ],
];

const READ_AHEAD = [
  [
    "    read(len) {\n        return streamIoErrorCall(INPUT_STREAM_READ | this.#streamType, this.#id, len);\n    }\n    blockingRead(len) {\n",
    `    #ahead = null;
    read(len) {
        if (this.#streamType !== HTTP) {
            return streamIoErrorCall(INPUT_STREAM_READ | this.#streamType, this.#id, len);
        }
        if (!this.#ahead || this.#ahead.byteLength === 0) {
            const got = streamIoErrorCall(INPUT_STREAM_READ | HTTP, this.#id, len > 1048576n ? len : 1048576n);
            if (got.byteLength <= Number(len)) {
                return got;
            }
            this.#ahead = got;
        }
        const n = Math.min(Number(len), this.#ahead.byteLength);
        const out = this.#ahead.subarray(0, n);
        this.#ahead = this.#ahead.subarray(n);
        return out;
    }
    blockingRead(len) {
        if (this.#ahead && this.#ahead.byteLength > 0) {
            return this.read(len);
        }
`,
  ],
  [
    "    skip(len) {\n",
    "    skip(len) {\n        if (this.#ahead && this.#ahead.byteLength > 0) {\n            return BigInt(this.read(len).byteLength);\n        }\n",
  ],
  [
    "    blockingSkip(len) {\n",
    "    blockingSkip(len) {\n        if (this.#ahead && this.#ahead.byteLength > 0) {\n            return BigInt(this.read(len).byteLength);\n        }\n",
  ],
];

// The test, in the patched code, that byte payload `a` owns its whole buffer (so transferring the
// buffer moves exactly these bytes): both threads transfer, never clone, such payloads.
const ownsBuffer = (a) =>
  `${a} instanceof Uint8Array && ${a}.byteOffset === 0 && ${a}.byteLength === ${a}.buffer.byteLength && !(${a}.buffer instanceof SharedArrayBuffer)`;

const TRANSFER_PAYLOADS = [
  [
    "        worker.postMessage(msg);\n",
    `        worker.postMessage(msg, args.filter((a) => ${ownsBuffer("a")}).map((a) => a.buffer));\n`,
  ],
];

// jco's loader compiles the core module when the jco module is evaluated; core-module.mjs starts
// it earlier (the wrapper calls compileCore first), and the loader takes that promise.
const EARLY_CORE = [
  [
    "const module0 = fetchCompile(new URL('./image-promote.core.wasm', import.meta.url));",
    "const module0 = compileCore();",
  ],
];

// jco's debug log reads `process.env.JCO_DEBUG` (a getenv through Node's environment proxy) on
// every call: several per host call, about 200 ms of the main thread per GiB copied here. Read
// once, when the module is evaluated.
const DEBUG_ONCE = [
  [
    "const _debugLog = (...args) => {\n  if (!globalThis?.process?.env?.JCO_DEBUG) { return; }\n",
    "const _debugOn = Boolean(globalThis?.process?.env?.JCO_DEBUG);\nconst _debugLog = (...args) => {\n  if (!_debugOn) { return; }\n",
  ],
];

// `node:http` imported as an ES module: Node builds its module namespace from every export, and
// on Node 22+ that runs the lazy getters (WebSocket and its kin) that load undici: about 60 ms of
// Node 24's start here. Taken by `require` instead (the same module object, no getter run).
const NODE_HTTP_BY_REQUIRE = [
  'import * as http from "node:http";\n',
  'import { createRequire } from "node:module";\nconst http = createRequire(import.meta.url)("node:http");\n',
];

// Node builds an ES module namespace for a builtin from every export, running its getters: for
// node:process that builds allowedNodeEnvironmentFlags and opens stdin, for node:http (Node 22+)
// it loads undici, and so on. The bundles take their builtins by `require` instead, hoisted to
// the top as `var`s (the same objects; only what the code names is read). Every
// `import … from "node:…"` of a bundle is rewritten; one that does not parse is refused.
const BUILTIN_IMPORT = /import\s*([\w$]+)?\s*,?\s*(?:\{([^}]*)\}|\*\s*as\s+([\w$]+))?\s*from\s*"(node:[\w/]+)";[ \t]*\n?/g;
function requireBuiltins(path, text) {
  const head = ['import { createRequire as __builtinRequire } from "node:module";', "var __builtin = __builtinRequire(import.meta.url);"];
  let n = 0;
  const out = text.replace(BUILTIN_IMPORT, (_, whole, names, star, spec) => {
    const id = `__b${n++}`;
    head.push(`var ${id} = __builtin(${JSON.stringify(spec)});`);
    if (whole) head.push(`var ${whole} = ${id};`);
    if (star) head.push(`var ${star} = ${id};`);
    if (names !== undefined) {
      const props = names.split(",").map((x) => x.trim()).filter(Boolean).map((x) => {
        const m = /^([\w$]+)(?:\s+as\s+([\w$]+))?$/.exec(x);
        if (!m) throw new Error(`${path}: cannot rewrite the import of ${x} from ${spec}`);
        return m[2] ? `${m[1]}: ${m[2]}` : m[1];
      });
      if (props.length) head.push(`var { ${props.join(", ")} } = ${id};`);
    }
    return "";
  });
  if (/from\s*"node:/.test(out)) throw new Error(`${path}: an import of a builtin was not rewritten`);
  return `${head.join("\n")}\n${out}`;
}

// The bytes the component hashes are lifted as a view of its memory, not copied out: the host's
// `update` hashes them before it returns and keeps nothing (host-digest.mjs). jco copies every
// `list<u8>` argument (a fresh buffer, about 200 ms and a GC's worth of garbage per GiB here).
const HASH_VIEW = /var (result\d+) = new Uint8Array\(memory0\.buffer\.slice\((ptr\d+), \2 \+ (len\d+) \* 1\)\);(\n  _debugLog\('\[iface="image-promote:host\/digest@[\d.]+", function="\[method\]hasher\.update"\])/g;
function hashView(path, text) {
  if ((text.match(HASH_VIEW) ?? []).length !== 1) {
    throw new Error(`${path}: the lift of hasher.update's bytes is gone or ambiguous (jco upgraded?)`);
  }
  return text.replace(HASH_VIEW, "var $1 = new Uint8Array(memory0.buffer, $2, $3);$4");
}

const patchShim = {
  name: "patch-preview2-shim",
  setup(b) {
    b.onLoad({ filter: /action-js[\\/]build[\\/]image-promote\.js$/ }, (args) => ({
      contents: `import { compileCore } from "../core-module.mjs";\n${hashView(args.path, patch(args.path, readFileSync(args.path, "utf8"), [...EARLY_CORE, ...DEBUG_ONCE]))}`,
      loader: "js",
    }));
    b.onLoad({ filter: /preview2-shim[\\/]dist[\\/]synckit[\\/]index\.js$/ }, (args) => ({
      contents: patch(args.path, readFileSync(args.path, "utf8"), TRANSFER_PAYLOADS),
      loader: "js",
    }));
    b.onLoad({ filter: /preview2-shim[\\/]dist[\\/]io[\\/]worker-io\.js$/ }, (args) => ({
      contents: patch(args.path, readFileSync(args.path, "utf8"), [...PERMIT_CACHE, ...READ_AHEAD, ...STDIO_LOCAL]),
      loader: "js",
    }));
    b.onLoad({ filter: /preview2-shim[\\/]dist[\\/]nodejs[\\/]http\.js$/ }, (args) => ({
      contents: patch(args.path, readFileSync(args.path, "utf8"), [NODE_HTTP_BY_REQUIRE]),
      loader: "js",
    }));
    b.onLoad({ filter: /preview2-shim[\\/]dist[\\/]nodejs[\\/]filesystem\.js$/ }, (args) => {
      const text = readFileSync(args.path, "utf8");
      if (!text.includes(FLAGGED)) {
        throw new Error(`${args.path}: the openAt check to patch is gone (shim upgraded?)`);
      }
      return { contents: text.replace(FLAGGED, "descriptorFlags.requestedWriteSync"), loader: "js" };
    });
  },
};

await build({
  entryPoints: [`${here}wrapper.mjs`],
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  minify: true,
  legalComments: "none",
  outfile: `${out}/index.mjs`,
  plugins: [patchShim],
  logLevel: "warning",
});
const workerPath = `${shimDir}/io/worker-thread.bundle.js`;
writeFileSync(`${out}/index.mjs`, requireBuiltins("index.mjs", readFileSync(`${out}/index.mjs`, "utf8")));
writeFileSync(
  `${out}/worker-thread.bundle.js`,
  requireBuiltins(workerPath, patch(workerPath, readFileSync(workerPath, "utf8"), [
    ['import { Agent, createServer, request } from "node:http";\n', 'const { Agent, createServer, request } = createRequire(import.meta.url)("node:http");\n'],
    ["const stream = new PassThrough();", "const stream = new PassThrough({ highWaterMark: 1 << 20 });"],
    [
      "\t\tconst bodyStreamId = createReadableStream(res);\n",
      "\t\tres._readableState.highWaterMark = Math.max(res._readableState.highWaterMark, 1 << 20);\n\t\tconst bodyStreamId = createReadableStream(res);\n",
    ],
    [
      "\t\t\t};\n\t\t\treturn handle(OUTPUT_STREAM_WRITE, id, payload);\n",
      "\t\t\t};\n\t\t\thandle(OUTPUT_STREAM_WRITE, id, payload);\n\t\t\treturn BigInt(stream.writableHighWaterMark - stream.writableLength);\n",
    ],
    // An answer's bytes (a response body read ahead 1 MiB at a time) are transferred, not
    // cloned: the worker has returned them and keeps no reference (a stream's `read` hands over
    // the chunk it returns). Cloning cost the worker about 150 ms of CPU per GiB here, on a
    // machine whose 2 cores the registries share: 1 GiB on Node 24 6.03 s → 5.67 s (medians of 3, alternated).
    [
      "\t\t\t\tworkerPort.postMessage(msg);\n",
      `\t\t\t\tconst bytes = msg.result;\n\t\t\t\tworkerPort.postMessage(msg, ${ownsBuffer("bytes")} ? [bytes.buffer] : []);\n`,
    ],
    // Our extension (http-worker.mjs, beside this file: the same URL host-http.mjs names) is
    // loaded when the worker starts, while the main thread compiles and starts the component,
    // not at the first HTTP call (node:https and TLS took about 65 ms of it on Node 20 here).
    [
      "const debug = runAsWorker(handle);\n",
      "const debug = runAsWorker(handle);\nif (workerData) callExtension(new URL(\"./http-worker.mjs\", import.meta.url).href, \"load\", []).catch(() => {});\n",
    ],
  ])),
);
copyFileSync(`${here}http-worker.mjs`, `${out}/http-worker.mjs`);
