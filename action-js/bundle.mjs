// Bundles wrapper.mjs (+ the jco output in build/ and the preview2 shim) into dist/index.mjs, and
// copies the shim's worker file next to it (the shim loads it by URL; esbuild cannot inline it).
// One patch to the pinned shim (0.26.1), applied here and refused if the code moved: its openAt
// rejects the `mutate-directory` flag that wasi-libc sets on every open for writing, so the
// component could not append to its sink journal (wasmtime accepts the flag).
import { build } from "esbuild";
import { copyFileSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));
const out = process.argv[2];
const shimDir = `${here}node_modules/@bytecodealliance/preview2-shim/dist`;
const FLAGGED = "descriptorFlags.requestedWriteSync || descriptorFlags.mutateDirectory";

const patchShim = {
  name: "patch-preview2-shim-open",
  setup(b) {
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
copyFileSync(`${shimDir}/io/worker-thread.bundle.js`, `${out}/worker-thread.bundle.js`);
