// The wrapper's path forms (paths.mjs) on Windows, checked on any OS: run by tests/action/node.rs
// (`node --test action-js/test/paths.test.mjs`).
import { test } from "node:test";
import assert from "node:assert/strict";
import { guestEnv, inputToGuest, isWindowsAbsolute, toGuest, toHost } from "../paths.mjs";

const W = "win32";

test("a drive path becomes /C:/… and comes back", () => {
  assert.equal(toGuest("D:\\a\\_temp\\_runner_file_commands\\set_output_1", W), "/D:/a/_temp/_runner_file_commands/set_output_1");
  assert.equal(toGuest("c:/Users/runneradmin/.docker", W), "/C:/Users/runneradmin/.docker");
  assert.equal(toGuest("D:\\a\\..\\b\\.\\c", W), "/D:/b/c");
  assert.equal(toHost("/D:/a/_temp/x", "D:\\a\\repo", W), "D:\\a\\_temp\\x");
  assert.equal(toHost("/D:", "D:\\a", W), "D:\\");
});

test("a UNC share becomes /server/share/… and comes back", () => {
  assert.equal(toGuest("\\\\fileserver\\builds\\out.json", W), "/fileserver/builds/out.json");
  assert.equal(toHost("/fileserver/builds/out.json", "C:\\", W), "\\\\fileserver\\builds\\out.json");
  assert.equal(toGuest("\\\\?\\C:\\long\\path", W), "/C:/long/path");
});

test("relative paths: slashes in, resolved against the working directory out", () => {
  assert.equal(toGuest("reports\\scan.json", W), "reports/scan.json");
  assert.equal(toHost("audit/promotion.json", "D:\\a\\repo\\repo", W), "D:\\a\\repo\\repo\\audit\\promotion.json");
});

test("elsewhere nothing changes", () => {
  assert.equal(toGuest("C:\\x", "linux"), "C:\\x");
  assert.equal(toHost("audit/x.json", "/work", "linux"), "/work/audit/x.json");
  assert.equal(toHost("/tmp/out", "/work", "darwin"), "/tmp/out");
  const env = { GITHUB_OUTPUT: "/home/runner/out", "INPUT_SOURCE-PASSWORD": "a\\b" };
  assert.deepEqual(guestEnv(env, "/home/runner", "linux"), env);
});

test("only absolute paths, path inputs and HOME change in the environment", () => {
  const env = guestEnv(
    {
      GITHUB_OUTPUT: "D:\\a\\_temp\\out",
      GITHUB_WORKSPACE: "D:\\a\\repo\\repo",
      PATH: "C:\\Windows;C:\\tools",
      "INPUT_SCAN-REPORT": "reports\\trivy.json",
      "INPUT_VERIFY-KEY": "keys\\a.pub\nD:\\keys\\b.pub\n",
      "INPUT_SIGN-KEY": "-----BEGIN PRIVATE KEY-----\\n…",
      "INPUT_SOURCE-PASSWORD": "C:\\not\\a\\path\\but\\a\\secret",
      "INPUT_REQUIRED-LABELS": "a\\b",
      RUNNER_OS: "Windows",
      IMAGE_PROMOTE_DESTINATION_PASSWORD: "C:\\odd",
      IMAGE_PROMOTE_POLICY: "D:\\p.yaml",
    },
    "C:\\Users\\runneradmin",
    W,
  );
  assert.equal(env.GITHUB_OUTPUT, "/D:/a/_temp/out");
  assert.equal(env.GITHUB_WORKSPACE, "/D:/a/repo/repo");
  assert.equal(env.PATH, "C:\\Windows;C:\\tools");
  assert.equal(env["INPUT_SCAN-REPORT"], "reports/trivy.json");
  assert.equal(env["INPUT_VERIFY-KEY"], "keys/a.pub\n/D:/keys/b.pub\n");
  assert.equal(env["INPUT_SIGN-KEY"], "-----BEGIN PRIVATE KEY-----\\n…");
  assert.equal(env["INPUT_REQUIRED-LABELS"], "a\\b");
  assert.equal(env.RUNNER_OS, "Windows");
  assert.equal(env.HOME, "/C:/Users/runneradmin");
  // A secret is never rewritten, whatever it looks like; other variables are when absolute.
  assert.equal(env["INPUT_SOURCE-PASSWORD"], "C:\\not\\a\\path\\but\\a\\secret");
  assert.equal(env.IMAGE_PROMOTE_DESTINATION_PASSWORD, "C:\\odd");
  assert.equal(env.IMAGE_PROMOTE_POLICY, "/D:/p.yaml");
});

test("what counts as an absolute Windows path", () => {
  for (const yes of ["C:\\", "c:/x", "\\\\srv\\share", "//srv/share/x", "\\\\?\\D:\\x"]) assert.ok(isWindowsAbsolute(yes), yes);
  for (const no of ["C:x", "\\x", "/x", "x\\y", "\\\\srv", "\\\\.\\pipe\\x", "https://x/y"]) assert.ok(!isWindowsAbsolute(no), no);
  assert.equal(inputToGuest("policy", "D:\\p.yaml", "linux"), "D:\\p.yaml");
});
