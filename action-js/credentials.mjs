// Docker credential helpers for the component, which cannot run programs (WASI has no
// subprocesses): before it starts, the wrapper looks up the source and destination registries in
// the runner's config.json (DOCKER_CONFIG, else ~/.docker) exactly as src/registry/credentials.rs
// does (credHelpers for the host's keys, then auths, then credsStore), runs the
// `docker-credential-<helper> get` the host names, and gives the component a private copy of the
// config in which those hosts have `auths` entries instead (mode 0600 in the step's temporary
// directory, deleted on exit). A helper that fails is left in the copy: the component then
// reports its DOCKER error (exit 5) as the binary would. Secrets are masked (::add-mask::).
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { homedir } from "node:os";
import { spawnSync } from "node:child_process";

const DOCKER_HUB = "docker.io";

// The registry host of a reference, by Docker's rule (src/reference.rs).
function registryHost(reference) {
  const first = reference.split("/")[0];
  if (!reference.includes("/")) return DOCKER_HUB;
  if (first.includes(".") || first.includes(":") || first === "localhost") {
    return first === "index.docker.io" || first === "registry-1.docker.io" ? DOCKER_HUB : first;
  }
  return DOCKER_HUB;
}

function keysFor(host) {
  const keys = [host, `https://${host}`, `http://${host}`, `https://${host}/v1/`, `https://${host}/v2/`];
  if (host === DOCKER_HUB) keys.unshift("https://index.docker.io/v1/"), keys.push("index.docker.io", "registry-1.docker.io");
  return keys;
}

function helperFor(config, host) {
  const keys = keysFor(host);
  const helpers = config.credHelpers ?? {};
  const named = keys.find((k) => helpers[k]);
  if (named) return { helper: helpers[named], keys, fromStore: false };
  if (keys.some((k) => config.auths?.[k])) return undefined;
  return config.credsStore ? { helper: config.credsStore, keys, fromStore: true } : undefined;
}

/**
 * Runs the credential helpers the step needs; returns the environment changes for the component
 * (a DOCKER_CONFIG of its own), or {} when nothing was needed.
 */
export function resolveCredentialHelpers(env, tempDir, log) {
  const dir = env.DOCKER_CONFIG || join(homedir(), ".docker");
  let config;
  try {
    config = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
  } catch {
    return {}; // none, or malformed: the component reads it and reports what is wrong
  }
  if (!config || typeof config !== "object") return {};
  const roles = [
    ["source", env["INPUT_SOURCE"]],
    ["destination", env["INPUT_DESTINATION"]],
  ];
  // Decided on the config as the runner wrote it, then applied to the copy.
  const wanted = [];
  for (const [role, reference] of roles) {
    if (!reference || env[`INPUT_${role.toUpperCase()}-USERNAME`]) continue;
    const host = registryHost(reference.trim());
    const found = helperFor(config, host);
    if (found && /^[A-Za-z0-9._-]+$/.test(found.helper) && !wanted.some((w) => w.host === host)) {
      wanted.push({ host, ...found });
    }
  }
  let changed = false;
  let storeStillNeeded = false;
  for (const { host, helper, keys, fromStore } of wanted) {
    const program = `docker-credential-${helper}`;
    const run = spawnSync(program, ["get"], { input: host, encoding: "utf8", timeout: 30000 });
    const said = `${run.stdout ?? ""} ${run.stderr ?? ""}`;
    let reply;
    if (!run.error && run.status === 0) {
      try {
        reply = JSON.parse(run.stdout);
      } catch {
        reply = undefined;
      }
    }
    const anonymous = !reply && said.includes("credentials not found");
    if (!anonymous && (typeof reply?.Username !== "string" || typeof reply?.Secret !== "string")) {
      // Left to the component, which reports the helper's failure (a DOCKER error, exit 5).
      log(`image-promote: ${program} get failed for ${host}\n`);
      if (fromStore) storeStillNeeded = true;
      continue;
    }
    for (const k of keys) delete config.credHelpers?.[k];
    if (!anonymous) {
      if (env.GITHUB_ACTIONS === "true") process.stdout.write(`::add-mask::${reply.Secret}\n`);
      const entry =
        reply.Username === "<token>"
          ? { identitytoken: reply.Secret }
          : { auth: Buffer.from(`${reply.Username}:${reply.Secret}`).toString("base64") };
      config.auths = { ...config.auths, [host]: entry };
    }
    changed = true;
  }
  // The component must not ask the store again for a host answered (or not found) here.
  if (changed && !storeStillNeeded) delete config.credsStore;
  if (!changed) return {};
  const own = join(tempDir, "docker");
  mkdirSync(own, { recursive: true, mode: 0o700 });
  writeFileSync(join(own, "config.json"), JSON.stringify(config), { mode: 0o600 });
  return { DOCKER_CONFIG: own };
}
