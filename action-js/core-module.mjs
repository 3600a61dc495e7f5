// The component's core wasm module (dist/image-promote.core.wasm, beside index.mjs), compiled as
// early as the wrapper knows it will run the component: V8 compiles it on background threads
// while this thread parses and evaluates the bundle's jco module (about 40 ms of Node 20's start
// here, which used to precede the compile). bundle.mjs points jco's loader at `compileCore`.
import { readFileSync } from "node:fs";

let core;

export function compileCore() {
  core ??= WebAssembly.compile(readFileSync(new URL("./image-promote.core.wasm", import.meta.url)));
  return core;
}
