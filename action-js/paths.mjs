// Host paths and the component's paths (docs/action.md, Windows). On Linux and macOS they are the
// same: the wrapper preopens `/` as `/`. On Windows the shim's preopen of `/` is every drive and
// UNC share at once (the guest's `/C:/a/b` is the host's `C:\a\b`, `/server/share/x` is
// `\\server\share\x`), so the wrapper hands the component its paths in that form: the working
// directory, every variable whose whole value is an absolute Windows path (GITHUB_OUTPUT,
// GITHUB_STEP_SUMMARY, RUNNER_TEMP, DOCKER_CONFIG, the journal, …; not one whose name says it is a
// secret), and the inputs that name files (relative ones with `\` too; no other input); and it
// maps the journal's paths back before it writes them.
// Pure functions of (value, platform), so that a test on Linux checks the Windows forms.
import { posix, win32 } from "node:path";

// Inputs that are a path or, on separate lines, several (or PEM text, left alone).
export const PATH_INPUTS = ["policy", "scan-report", "verify-key", "sign-key", "ca-cert", "audit-dir"];

// Never rewritten, whatever they look like (a password is not a path).
const SECRET = /PASSWORD|TOKEN|SECRET|WEBHOOK/i;
const DRIVE = /^[A-Za-z]:[\\/]/;
const UNC = /^[\\/]{2}(?![?.][\\/])[^\\/]+[\\/][^\\/]+/;
const VERBATIM = /^[\\/]{2}[?.][\\/]/;

/** Whether `value` is an absolute Windows path (drive, UNC share or `\\?\`). */
export function isWindowsAbsolute(value) {
  return DRIVE.test(value) || UNC.test(value) || (VERBATIM.test(value) && DRIVE.test(value.slice(4)));
}

/** The component's form of a host path (Windows: absolute or relative; elsewhere: as is). */
export function toGuest(path, platform = process.platform) {
  if (platform !== "win32") return path;
  const p = VERBATIM.test(path) && DRIVE.test(path.slice(4)) ? path.slice(4) : path;
  if (!DRIVE.test(p) && !UNC.test(p)) return p.replace(/\\/g, "/");
  // `C:\a` → `/C:/a`, `\\server\share\x` → `/server/share/x`.
  const normal = win32.normalize(p).replace(/\\/g, "/");
  return DRIVE.test(p) ? `/${normal[0].toUpperCase()}${normal.slice(1)}` : `/${normal.replace(/^\/+/, "").replace(/\/$/, "")}`;
}

/** The host path the component meant by `path` (relative: against `cwd`). */
export function toHost(path, cwd, platform = process.platform) {
  if (platform !== "win32") return posix.resolve(cwd, path);
  if (!path.startsWith("/")) return win32.resolve(cwd, path);
  const rest = path.replace(/^\/+/, "");
  return win32.resolve(/^[A-Za-z]:/.test(rest) ? `${rest}/` : `//${rest}`);
}

/** An input's value in the component's form: each line of a path input; anything else as is. */
export function inputToGuest(name, value, platform = process.platform) {
  if (platform !== "win32" || !PATH_INPUTS.includes(name) || value.includes("-----BEGIN")) return value;
  return value
    .split("\n")
    .map((line) => {
      const trimmed = line.trim();
      return trimmed ? line.replace(trimmed, toGuest(trimmed, platform)) : line;
    })
    .join("\n");
}

/**
 * The component's environment: on Windows, each absolute path variable and path input in the
 * component's form, and HOME set (from `home`) when the runner has none; elsewhere unchanged.
 */
export function guestEnv(env, home, platform = process.platform) {
  if (platform !== "win32") return { ...env };
  const out = {};
  for (const [key, value] of Object.entries(env)) {
    if (typeof value !== "string") continue;
    const input = key.startsWith("INPUT_") ? key.slice(6).toLowerCase() : undefined;
    if (input) out[key] = inputToGuest(input, value, platform);
    else if (!SECRET.test(key) && !value.includes(";") && isWindowsAbsolute(value)) out[key] = toGuest(value, platform);
    else out[key] = value;
  }
  if (!out.HOME && home) out.HOME = toGuest(home, platform);
  return out;
}
