// The worker side of host-http.mjs, an extension module of the preview2 shim's worker thread (its
// `io-worker` API: the default export is called once with the worker's helpers and returns the
// function each `callExtension(module, operation, args)` runs): `send-all` does HTTP exchanges
// concurrently with Node's http/https and resolves, in order, to `{ response }` (the record) or
// `{ error }` (the variant) for each.
// Copied into dist/ beside index.mjs by bundle.mjs (it imports only Node's own modules).
// Behaves as the preview2 shim's wasi:http does:
// keep-alive agents, no redirects followed, the request's `timeout` (socket silence) while
// connecting and waiting, the read timeout once the response has begun; a timeout is `timeout`,
// everything else (refused, reset, DNS, TLS) `connect`. A response body over `bodyLimit` (by its
// content-length, or as it arrives) is not read: `too-big`. HEAD, 204 and 304 have no body.
import { createRequire } from "node:module";

// By `require`: an ES module import of node:http loads undici on Node 22+ (see bundle.mjs).
const require = createRequire(import.meta.url);
const http = require("node:http");
const https = require("node:https");
const tls = require("node:tls");

const agents = {
  "http:": [http, new http.Agent({ keepAlive: true })],
  "https:": [https, new https.Agent({ keepAlive: true })],
};

// Bytes of a header value as Node holds it (latin1).
const latin1 = (text) => {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i) & 0xff;
  return out;
};

const describe = (e) => {
  let err = e;
  while (err?.cause) err = err.cause;
  if (err instanceof AggregateError && err.errors?.length) err = err.errors[0];
  return err?.code ? `${err.code}: ${err.message}` : String(err?.message ?? err);
};

function exchange(request) {
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (message) => {
      if (done) return;
      done = true;
      if (message.error) reject(message.error);
      else resolve(message.response);
    };
    let url;
    try {
      url = new URL(request.url);
    } catch (e) {
      finish({ error: { tag: "connect", val: `invalid URL: ${describe(e)}` } });
      return;
    }
    const scheme = agents[url.protocol];
    if (!scheme) {
      finish({ error: { tag: "connect", val: `unsupported scheme ${url.protocol}` } });
      return;
    }
    const [mod, agent] = scheme;
    let req;
    try {
      req = mod.request(url, { method: request.method, agent, timeout: request.connectTimeoutMs || undefined });
      for (const [name, value] of request.headers) {
        req.appendHeader(name, Buffer.from(value).toString("latin1"));
      }
    } catch (e) {
      finish({ error: { tag: "connect", val: describe(e) } });
      return;
    }
    let timedOut = false;
    req.on("timeout", () => {
      timedOut = true;
      req.destroy();
    });
    req.on("error", (e) => {
      finish({ error: timedOut ? { tag: "timeout", val: "no answer in time" } : { tag: "connect", val: describe(e) } });
    });
    req.on("response", (res) => {
      if (request.readTimeoutMs) req.setTimeout(request.readTimeoutMs);
      const bodyless = request.method === "HEAD" || res.statusCode === 204 || res.statusCode === 304;
      const length = Number(res.headers["content-length"]);
      if (!bodyless && length > request.bodyLimit) {
        finish({ error: { tag: "too-big" } });
        res.destroy();
        return;
      }
      const chunks = [];
      let total = 0;
      res.on("data", (chunk) => {
        total += chunk.length;
        if (total > request.bodyLimit) {
          finish({ error: { tag: "too-big" } });
          res.destroy();
          return;
        }
        chunks.push(chunk);
      });
      res.on("error", (e) => {
        finish({ error: timedOut ? { tag: "timeout", val: "the response stopped" } : { tag: "connect", val: describe(e) } });
      });
      res.on("aborted", () => {
        finish({ error: timedOut ? { tag: "timeout", val: "the response stopped" } : { tag: "connect", val: "the response was cut short" } });
      });
      res.on("end", () => {
        const body = new Uint8Array(total);
        let at = 0;
        for (const chunk of chunks) {
          body.set(chunk, at);
          at += chunk.length;
        }
        const headers = [];
        for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) {
          headers.push([res.rawHeaders[i].toLowerCase(), latin1(res.rawHeaders[i + 1])]);
        }
        finish({ response: { status: res.statusCode, headers, body } });
      });
    });
    req.end(request.body.byteLength ? Buffer.from(request.body.buffer, request.body.byteOffset, request.body.byteLength) : undefined);
  });
}

export default function create() {
  return (operation, args) => {
    // `load`: sent by the worker itself when it starts (bundle.mjs), so that this module and
    // Node's http/https are loaded, and the TLS trust store read, before the first exchange.
    if (operation === "load") {
      tls.createSecureContext();
      return null;
    }
    if (operation !== "send-all") throw new Error(`unknown operation ${operation}`);
    return Promise.all(args[0].map((request) => exchange(request).then((response) => ({ response }), (error) => ({ error }))));
  };
}
