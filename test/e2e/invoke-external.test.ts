import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { TestProject } from "../support/test-project.js";
import { describeResult } from "../support/run-cli.js";

/**
 * `sluice invoke` of external Singer plugins, as `meltano invoke`: the executable started with
 * the project's settings as a private `--config` file (removed afterwards) and the arguments as
 * given; stdin, stdout and the exit code passed through; stderr redacted. The plugin is a fake
 * (test/fixtures/singer/invoke-fake.py) that reports how it was started.
 */
const FAKE = fileURLToPath(new URL("../fixtures/singer/invoke-fake.py", import.meta.url));
const PASSWORD = "inv0ke-s3cret-pw";

interface Report {
  argv: string[];
  config_path: string;
  config_mode: string;
  config_dir_mode: string;
  config_keys: string[];
  password_sha256: string;
  cwd: string;
  env: string | null;
  selected: string[] | null;
}

let project: TestProject;

beforeAll(() => {
  project = new TestProject({ prefix: "sluice-invoke-", env: { TAP_FAKE_PASSWORD: PASSWORD } });
  project.write({
    plugins: {
      extractors: [
        {
          name: "tap-fake",
          executable: FAKE,
          env: { FAKE_PLUGIN_ENV: "from-env-block" },
          // Declared, so that TAP_FAKE_PASSWORD sets it (as in Meltano).
          settings: [{ name: "host" }, { name: "password", kind: "password" }],
          config: { host: "db.example.com" },
          select: ["fake-b.*"],
        },
        // Found where `sluice install` puts a pip_url's program (never installed here).
        { name: "tap-venv", pip_url: "tap-venv-package", config: { password: PASSWORD } },
        { name: "tap-missing", pip_url: "tap-missing-package", config: {} },
      ],
      loaders: [{ name: "target-fake", executable: FAKE, config: { password: PASSWORD } }],
    },
  });
  const venvBin = project.file(".sluice/plugins/extractors/tap-venv/venv/bin");
  fs.mkdirSync(venvBin, { recursive: true });
  fs.copyFileSync(FAKE, path.join(venvBin, "tap-venv"));
  fs.chmodSync(path.join(venvBin, "tap-venv"), 0o755);
});

afterAll(() => project?.remove());

function reportOf(stdout: string): Report {
  const first = stdout.split("\n")[0]!;
  return JSON.parse(first) as Report;
}

const sha256 = (text: string): string => crypto.createHash("sha256").update(text).digest("hex");

describe("sluice invoke <external plugin>", () => {
  test("arguments pass through after a private --config file that is removed afterwards", async () => {
    const result = await project.runText(["invoke", "tap-fake", "--about", "--format", "json"]);
    expect(result.code, describeResult(result)).toBe(0);
    const report = reportOf(result.stdout);
    expect(report.argv).toEqual(["--config", report.config_path, "--about", "--format", "json"]);
    expect(report.config_mode).toBe("0o600");
    expect(report.config_dir_mode).toBe("0o700");
    expect(fs.existsSync(report.config_path)).toBe(false);
    expect(fs.existsSync(path.dirname(report.config_path))).toBe(false);
    // The settings as a run resolves them: the file's, and TAP_FAKE_PASSWORD's.
    expect(report.config_keys).toEqual(["host", "password"]);
    expect(report.password_sha256).toBe(sha256(PASSWORD));
    // In the project's folder, with the plugin's env:, as a run starts it.
    expect(fs.realpathSync(report.cwd)).toBe(fs.realpathSync(project.dir));
    expect(report.env).toBe("from-env-block");
    // Its stderr is shown, the password redacted.
    expect(result.stderr).toContain("connecting with password");
    expect(result.stderr).not.toContain(PASSWORD);
  });

  test("with no arguments a tap runs in sync mode: the catalog it discovered, the project's selection applied", async () => {
    const result = await project.runText(["invoke", "tap-fake"]);
    expect(result.code, describeResult(result)).toBe(0);
    const report = reportOf(result.stdout);
    expect(report.argv[2]).toBe("--catalog");
    expect(report.argv).toHaveLength(4);
    expect(report.selected).toEqual(["fake-b"]);
    expect(fs.existsSync(report.argv[3]!)).toBe(false);
  });

  test("a target gets stdin and its stdout comes back as it printed it", async () => {
    const lines = ['{"type": "STATE", "value": {"a": 1}}', '{"type": "STATE", "value": {"b": 2}}'];
    const result = await project.runText(["invoke", "target-fake", "--echo-stdin"], {
      stdin: `${lines.join("\n")}\n`,
    });
    expect(result.code, describeResult(result)).toBe(0);
    const [report, ...rest] = result.stdout.trimEnd().split("\n");
    expect(JSON.parse(report!).argv).toEqual(["--config", expect.any(String), "--echo-stdin"]);
    expect(rest).toEqual(lines);
    expect(result.stderr).not.toContain(PASSWORD);
  });

  test("the plugin's exit code is sluice's", async () => {
    const result = await project.runText(["invoke", "target-fake", "--exit", "3"]);
    expect(result.code, describeResult(result)).toBe(3);
    expect(fs.existsSync(reportOf(result.stdout).config_path)).toBe(false);
  });

  test("the program sluice install put in the plugin's virtualenv is the one started", async () => {
    const result = await project.runText(["invoke", "tap-venv", "--about"]);
    expect(result.code, describeResult(result)).toBe(0);
    expect(reportOf(result.stdout).argv.slice(2)).toEqual(["--about"]);
    const missing = await project.runText(["invoke", "tap-missing", "--about"]);
    expect(missing.code, describeResult(missing)).toBe(2);
    expect(missing.stderr).toContain(
      'tap-missing: cannot run "tap-missing" (not found): run `sluice install tap-missing`',
    );
  });

  test("SIGTERM to sluice reaches the plugin, whose exit code sluice returns; the config is removed", async () => {
    const running = project.start(["--log-format", "text", "invoke", "tap-fake", "--wait-for-signal"]);
    const deadline = Date.now() + 30_000;
    while (!running.output().stdout.includes("ready\n")) {
      if (Date.now() > deadline) throw new Error(`the plugin never said ready: ${running.output().stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    running.child.kill("SIGTERM");
    const result = await running.done;
    expect(result.code, describeResult(result)).toBe(7);
    expect(result.stderr).toContain("got signal 15");
    expect(fs.existsSync(reportOf(result.stdout).config_path)).toBe(false);
  });

  test("--config is refused: invoke gives the project's settings", async () => {
    const result = await project.runText(["invoke", "tap-fake", "--config", "mine.json"]);
    expect(result.code, describeResult(result)).toBe(2);
    expect(result.stderr).toContain("sluice invoke tap-fake: --config is not for invoke");
  });
});
