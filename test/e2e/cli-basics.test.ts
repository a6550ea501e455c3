import { spawnSync } from "node:child_process";
import fs from "node:fs";
import { createRequire } from "node:module";
import { afterEach, describe, expect, test } from "vitest";
import { TestProject, TestProjects } from "../support/test-project.js";
import { CLI_PATH, describeResult, runCli } from "../support/run-cli.js";

const { version } = createRequire(import.meta.url)("../../package.json") as { version: string };

const projects = new TestProjects();
afterEach(() => projects.removeAll());

describe("the command line", () => {
  test("--version prints the package version and exits 0", async () => {
    const result = await runCli(["--version"]);
    expect(result.code, describeResult(result)).toBe(0);
    expect(result.stdout.trim()).toBe(version);
  });

  test("--help lists the commands and exits 0", async () => {
    const result = await runCli(["--help"]);
    expect(result.code, describeResult(result)).toBe(0);
    for (const command of ["run", "discover", "select", "config", "test", "state", "runs", "init"]) {
      expect(result.stdout).toMatch(new RegExp(`^  ${command}\\b`, "m"));
    }
    expect(result.stdout).toContain("--log-format");
  });

  test("--help loads commander and the command declarations only: no driver, connector or project code", () => {
    // Start-up is paid by every command and every orchestrator task (issue: within 1.7x a bare
    // `node -e 0`; `npm run bench -- --lines help` measures it). Each module Node loads is logged.
    const hook = `data:text/javascript,${encodeURIComponent(
      'export async function load(url, context, next) { process.stderr.write(url + "\\n"); return next(url, context); }',
    )}`;
    const register = `data:text/javascript,${encodeURIComponent(
      `import { register } from "node:module"; register(${JSON.stringify(hook)});`,
    )}`;
    const result = spawnSync(process.execPath, ["--import", register, CLI_PATH, "--help"], {
      encoding: "utf8",
    });
    expect(result.status, result.stderr).toBe(0);
    const loaded = result.stderr.split("\n").filter((url) => url.startsWith("file:"));
    const packages = new Set(
      loaded.flatMap((url) => /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1] ?? []),
    );
    expect([...packages]).toEqual(["commander"]);
    const own = loaded.filter((url) => url.includes("/dist/")).map((url) => url.replace(/.*\/dist\//, ""));
    expect(own.filter((file) => /^(connectors|runner|state|verify|ui)\//.test(file))).toEqual([]);
  });

  test("an unknown command exits 2 and says so", async () => {
    const result = await runCli(["bogus"]);
    expect(result.code, describeResult(result)).toBe(2);
    expect(result.stderr).toContain("unknown command 'bogus'");
  });

  test("a missing argument and an unknown option exit 2", async () => {
    const project = projects.add(new TestProject());
    // `run <one name>` is a job or an error, which only the project file can tell.
    project.writeText(
      "plugins:\n  extractors: [{ name: tap-postgres }]\n  loaders: [{ name: target-duckdb }]\n",
    );
    const missing = await project.runText(["run", "tap-postgres"]);
    expect(missing.code, describeResult(missing)).toBe(2);
    expect(missing.stderr).toContain("missing required argument 'loader'");
    const option = await project.runText(["run", "tap-postgres", "target-duckdb", "--ful-refresh"]);
    expect(option.code, describeResult(option)).toBe(2);
    expect(option.stderr).toContain("unknown option '--ful-refresh'");
    const format = await runCli(["--log-format", "xml", "runs"]);
    expect(format.code, describeResult(format)).toBe(2);
  });

  test("without a project file, commands exit 2 and point to sluice init", async () => {
    const project = projects.add(new TestProject());
    for (const args of [
      ["run", "tap-postgres", "target-duckdb"],
      ["state", "list"],
    ]) {
      const result = await project.runText(args);
      expect(result.code, describeResult(result)).toBe(2);
      expect(result.stderr).toContain(`no sluice.yml or meltano.yml in ${project.dir}`);
      expect(result.stderr).toContain("sluice init");
    }
    expect(fs.existsSync(project.file(".sluice"))).toBe(false);
  });
});

describe("sluice init", () => {
  test("creates a project that sluice can read, with .sluice/ and .env ignored by git", async () => {
    const project = projects.add(new TestProject());
    const result = await project.runText(["init"]);
    expect(result.code, describeResult(result)).toBe(0);
    expect(result.stdout).toContain("sluice.yml");
    const text = fs.readFileSync(project.file("sluice.yml"), "utf8");
    expect(text).toContain("tap-postgres");
    expect(text).toContain("target-duckdb");
    // The starter keeps the password out of the file.
    expect(text).toMatch(/password: \$TAP_POSTGRES_PASSWORD/);
    expect(fs.readFileSync(project.file(".gitignore"), "utf8").split("\n")).toEqual(
      expect.arrayContaining([".sluice/", ".env"]),
    );

    const config = await project.runText(["config", "tap-postgres"], {
      env: { TAP_POSTGRES_PASSWORD: "from-env-1" },
    });
    expect(config.code, describeResult(config)).toBe(0);
    expect(JSON.parse(config.stdout)).toMatchObject({
      name: "tap-postgres",
      environment: "dev",
      config: { password: "********", dbname: "postgres" },
    });
  });

  test("refuses to overwrite an existing project (exit 2), leaving it as it was", async () => {
    const project = projects.add(new TestProject());
    project.writeText("# mine\nplugins: {}\n");
    const result = await project.runText(["init"]);
    expect(result.code, describeResult(result)).toBe(2);
    expect(result.stderr).toContain("already exists");
    expect(fs.readFileSync(project.file("sluice.yml"), "utf8")).toBe("# mine\nplugins: {}\n");

    const meltano = projects.add(new TestProject());
    meltano.writeText("plugins: {}\n", "meltano.yml");
    const again = await meltano.runText(["init"]);
    expect(again.code, describeResult(again)).toBe(2);
    expect(fs.existsSync(meltano.file("sluice.yml"))).toBe(false);
  });
});
