// The host side of wit/host.wit (`image-promote:host/digest`): incremental digests by Node's
// crypto (OpenSSL; SHA extensions where the CPU has them), for the component's blob verifier.
// jco maps the interface to this file (scripts/build-dist.sh, `--map`); the resource becomes this
// class: `new Hasher(algorithm)`, `update(bytes)`, `finish()`.
import { createHash } from "node:crypto";

const ALGORITHMS = { sha256: "sha256", sha512: "sha512" };

export class Hasher {
  #hash;

  constructor(algorithm) {
    const name = ALGORITHMS[algorithm];
    if (!name) throw new Error(`image-promote:host/digest: unknown algorithm ${algorithm}`);
    this.#hash = createHash(name);
  }

  update(bytes) {
    this.#hash.update(bytes);
  }

  finish() {
    return new Uint8Array(this.#hash.digest());
  }
}
