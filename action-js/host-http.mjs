// The host side of wit/host.wit's `image-promote:host/http`: one HTTP exchange in one synchronous
// call. A wasi:http request under the preview2 shim takes about a dozen synchronous round trips to
// the shim's worker thread (request, headers, body streams, finish, poll, response, reads, …);
// this takes one: the request goes to the shim's worker thread as an extension call (the shim's
// `io-worker` API: a module of ours, http-worker.mjs beside index.mjs in dist/, loaded once into
// that worker), which does it with Node's http/https (keep-alive agents, no redirects followed)
// and answers status, headers and the whole body while this thread waits (the shim's synckit:
// Atomics.wait, then the answer taken off a port). No second worker thread to boot.
// jco maps the interface to this file (scripts/build-dist.sh, `--map`): `send(request)` returns
// the response record or throws the error variant (`too-big`, `timeout`, `connect`).
// IMAGE_PROMOTE_HOST_HTTP_STATS=1 prints how many exchanges it did (and refused) at exit.
import { callExtension } from "@bytecodealliance/preview2-shim/io-worker";
import process from "node:process";

// Beside dist/index.mjs (bundle.mjs copies it); loaded once into the shim's worker.
const EXCHANGE = new URL("./http-worker.mjs", import.meta.url);

// With IMAGE_PROMOTE_HOST_HTTP_STATS: the count, when the first and last exchange began (ms since
// Node started) and the time spent in them; `2` lists each exchange too.
const stats = { sent: 0, tooBig: 0, first: 0, last: 0, busy: 0 };
const verbose = process.env.IMAGE_PROMOTE_HOST_HTTP_STATS === "2";
if (process.env.IMAGE_PROMOTE_HOST_HTTP_STATS) {
  const ms = (t) => Math.round(t);
  process.on("exit", () =>
    process.stderr.write(
      `host-http: ${stats.sent} sent, ${stats.tooBig} too big, first at ${ms(stats.first)} ms, last at ${ms(stats.last)} ms, ${ms(stats.busy)} ms in exchanges, exit at ${ms(performance.now())} ms\n`,
    ),
  );
}

export function send(request) {
  const began = performance.now();
  if (stats.sent === 0) stats.first = began;
  stats.last = began;
  stats.sent += 1;
  let response;
  try {
    response = callExtension(EXCHANGE, "send", [request]);
  } catch (e) {
    if (e?.tag === "too-big") stats.tooBig += 1;
    throw e?.tag ? e : { tag: "connect", val: `the HTTP exchange failed: ${e?.message ?? e}` };
  } finally {
    stats.busy += performance.now() - began;
  }
  if (verbose) {
    const took = (performance.now() - began).toFixed(1);
    process.stderr.write(`host-http: ${request.method} ${request.url.split("?")[0]} ${response.status} ${took} ms\n`);
  }
  return response;
}
