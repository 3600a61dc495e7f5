// The host side of wit/host.wit's `image-promote:host/http`: one HTTP exchange in one synchronous
// call. A wasi:http request under the preview2 shim takes about a dozen synchronous round trips to
// the shim's worker thread (request, headers, body streams, finish, poll, response, reads, …);
// this takes one: the request goes to the shim's worker thread as an extension call (the shim's
// `io-worker` API: a module of ours, http-worker.mjs beside index.mjs in dist/, loaded once into
// that worker), which does it with Node's http/https (keep-alive agents, no redirects followed)
// and answers status, headers and the whole body while this thread waits (the shim's synckit:
// Atomics.wait, then the answer taken off a port). No second worker thread to boot.
// `start(request)` only queues it (an id); `finish(id)` sends everything queued in one call (the
// worker runs them concurrently: the HEADs of an image's blobs share one wait) and returns the
// response record of its own, or throws its error variant (`too-big`, `timeout`, `connect`); the
// other answers wait for their `finish`; `cancel(id)` forgets one (unsent: never sent).
// jco maps the interface to this file (scripts/build-dist.sh, `--map`).
// IMAGE_PROMOTE_HOST_HTTP_STATS=1 prints how many exchanges it did (and refused) at exit.
import { callExtension } from "@bytecodealliance/preview2-shim/io-worker";
import process from "node:process";

// Beside dist/index.mjs (bundle.mjs copies it); loaded once into the shim's worker.
const EXCHANGE = new URL("./http-worker.mjs", import.meta.url);

// With IMAGE_PROMOTE_HOST_HTTP_STATS: the count (exchanges, calls to the worker), when the first
// and last call began (ms since Node started) and the time spent in them; `2` lists each too.
const stats = { sent: 0, calls: 0, tooBig: 0, first: 0, last: 0, busy: 0 };
const verbose = process.env.IMAGE_PROMOTE_HOST_HTTP_STATS === "2";
if (process.env.IMAGE_PROMOTE_HOST_HTTP_STATS) {
  const ms = (t) => Math.round(t);
  process.on("exit", () =>
    process.stderr.write(
      `host-http: ${stats.sent} sent, ${stats.tooBig} too big, ${stats.calls} calls, first at ${ms(stats.first)} ms, last at ${ms(stats.last)} ms, ${ms(stats.busy)} ms in exchanges, exit at ${ms(performance.now())} ms\n`,
    ),
  );
}

// Queued requests (not sent yet) and answers not taken yet, by exchange id.
const queued = new Map();
const answers = new Map();
let nextId = 1;

export function start(request) {
  const id = nextId;
  nextId = nextId >= 0xffffffff ? 1 : nextId + 1;
  queued.set(id, request);
  return id;
}

export function cancel(id) {
  queued.delete(id);
  answers.delete(id);
}

export function finish(id) {
  if (!answers.has(id)) {
    if (!queued.has(id)) throw { tag: "connect", val: `no HTTP exchange ${id}` };
    const batch = [...queued];
    queued.clear();
    const began = performance.now();
    if (stats.sent === 0) stats.first = began;
    stats.last = began;
    stats.sent += batch.length;
    stats.calls += 1;
    let results;
    try {
      results = callExtension(EXCHANGE, "send-all", [batch.map(([, request]) => request)]);
    } catch (e) {
      results = batch.map(() => ({ error: { tag: "connect", val: `the HTTP exchange failed: ${e?.message ?? e}` } }));
    }
    stats.busy += performance.now() - began;
    batch.forEach(([bid, request], i) => {
      const answer = results[i];
      if (answer.error?.tag === "too-big") stats.tooBig += 1;
      if (verbose) {
        const what = answer.response?.status ?? answer.error?.tag;
        process.stderr.write(`host-http: ${request.method} ${request.url.split("?")[0]} ${what} (one of ${batch.length}, ${(performance.now() - began).toFixed(1)} ms)\n`);
      }
      answers.set(bid, answer);
    });
  }
  const answer = answers.get(id);
  answers.delete(id);
  if (answer.error) throw answer.error;
  return answer.response;
}
