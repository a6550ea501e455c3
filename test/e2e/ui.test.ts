import http from "node:http";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createTestDatabase, type TestDatabase } from "../support/pg.js";
import { projectSpec, TestProject, type ProjectSpec } from "../support/test-project.js";
import { describeResult, runFinished, type RunningCli, type RunRecord } from "../support/run-cli.js";

/**
 * `sluice ui` over a real project: two successful runs and a failed one recorded by `sluice run`,
 * the server started as a user would, its JSON API read directly and its page driven in Debian's
 * headless Chromium (never a downloaded browser; CI installs the package when it is missing).
 */

const CHROMIUM = "/usr/bin/chromium";
const STATE_ID = "dev:tap-postgres-to-target-duckdb";
// Names and texts that would run as script if the page put them into HTML unescaped.
const HOSTILE_TABLE = "<script>window.__sluiceXss=1</script>";
const HOSTILE_SELECT = "public-<img src=x onerror=window.__sluiceXss=2>";

let db: TestDatabase;
let project: TestProject;
let spec: ProjectSpec;
let ui: RunningCli;
let url: string;
let browser: Browser;
/** `sluice runs --json` after the three runs, newest first. */
let recorded: RunRecord[];

beforeAll(async () => {
  db = await createTestDatabase("e2e_ui");
  await db.query(`
    CREATE TABLE items (id integer PRIMARY KEY, name text NOT NULL);
    INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 1200) g;
    CREATE TABLE "${HOSTILE_TABLE}" (id integer PRIMARY KEY);
    INSERT INTO "${HOSTILE_TABLE}" SELECT generate_series(1, 7);`);
  spec = projectSpec(db);
  project = TestProject.forDatabase(db, spec);

  const first = await project.run(["run", "tap-postgres", "target-duckdb"]);
  expect(first.code, describeResult(first)).toBe(0);
  await db.query(`INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1201, 2000) g`);
  const second = await project.run(["run", "tap-postgres", "target-duckdb"]);
  expect(second.code, describeResult(second)).toBe(0);
  // A --select pattern naming no table: the run is recorded, then fails with an error naming it.
  const failed = await project.run(["run", "tap-postgres", "target-duckdb", "--select", HOSTILE_SELECT]);
  // A configuration mistake: exit code 2, and still a failed run in history.
  expect(failed.code, describeResult(failed)).toBe(2);
  expect(runFinished(failed.stderr).status).toBe("failed");
  // State holds no secret unless someone puts one there by hand: the page must still not show it.
  const planted = await project.run([
    "state",
    "set",
    "dev:planted",
    JSON.stringify({ bookmarks: { "public-items": { note: `pw ${db.password}` } } }),
    "--force",
  ]);
  expect(planted.code, describeResult(planted)).toBe(0);
  recorded = await project.runs();

  ui = project.start(["ui", "--port", "0"], { timeoutMs: 300_000 });
  url = await urlOf(ui);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
});

afterAll(async () => {
  await browser?.close();
  if (ui && ui.child.exitCode === null) ui.child.kill("SIGKILL");
  project?.remove();
  await db?.drop();
});

/** The URL `sluice ui` prints on stdout once it listens. */
async function urlOf(running: RunningCli): Promise<string> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const match = /^(http:\/\/\S+)\n/.exec(running.output().stdout);
    if (match) return match[1]!;
    if (running.child.exitCode !== null) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`sluice ui printed no URL:\n${JSON.stringify(running.output())}`);
}

/** A GET with a chosen Host header (fetch does not let a caller set it). */
function rawGet(path: string, headers: Record<string, string> = {}, method = "GET") {
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>(
    (resolve, reject) => {
      const request = http.request(new URL(path, url), { method, headers }, (response) => {
        let body = "";
        response.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
        response.on("end", () =>
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body }),
        );
      });
      request.on("error", reject);
      request.end();
    },
  );
}

async function api<T>(path: string): Promise<T> {
  const response = await fetch(new URL(path, url));
  expect(response.status, `${path}: ${await response.clone().text()}`).toBe(200);
  return (await response.json()) as T;
}

interface RunView {
  runId: string;
  stateId: string;
  status: string;
  rows: number;
  durationSeconds: number | null;
  rowsPerSecond: number | null;
  error: string | null;
  streams: { streamId: string; rows: number; rowsPerSecond: number | null }[];
}

const totalRows = (run: RunRecord) => Object.values(run.streams).reduce((n, s) => n + s.rows, 0);
const failedRun = () => recorded.find((run) => run.status === "failed")!;

describe("sluice ui: the JSON API", () => {
  test("listens on 127.0.0.1 by default and prints its URL", () => {
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect(ui.output().stderr).toContain(`"event":"ui-listening"`);
  });

  test("/api/runs lists the recorded runs newest first, with rows and rates per stream", async () => {
    const { runs } = await api<{ runs: RunView[] }>("/api/runs");
    expect(recorded.map((r) => r.status)).toEqual(["failed", "success", "success"]);
    expect(runs.map((r) => [r.runId, r.status, r.stateId])).toEqual(
      recorded.map((r) => [r.runId, r.status, r.stateId]),
    );
    expect(runs.map((r) => r.rows)).toEqual(recorded.map(totalRows));
    const newestSuccess = runs[1]!;
    expect(Object.fromEntries(newestSuccess.streams.map((s) => [s.streamId, s.rows]))).toEqual({
      "public-items": 2000,
      [`public-${HOSTILE_TABLE}`]: 7,
    });
    for (const run of runs) {
      expect(run.durationSeconds).toBeGreaterThan(0);
      if (run.status === "success") expect(run.rowsPerSecond).toBeGreaterThan(0);
    }
  });

  test("/api/runs/:id gives a failed run's error; an unknown id is 404, a bad limit 400", async () => {
    const failed = failedRun();
    const { run } = await api<{ run: RunView }>(`/api/runs/${encodeURIComponent(failed.runId)}`);
    expect(run.status).toBe("failed");
    expect(run.error).toBe(failed.error);
    expect(run.error).toContain(HOSTILE_SELECT);

    const unknown = await fetch(new URL("/api/runs/no-such-run", url));
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: string }).error).toContain("no-such-run");
    const badLimit = await fetch(new URL("/api/runs?limit=abc", url));
    expect(badLimit.status).toBe(400);
    const limited = await api<{ runs: RunView[] }>("/api/runs?limit=1");
    expect(limited.runs.map((r) => r.runId)).toEqual([recorded[0]!.runId]);
  });

  test("/api/state shows each state id with its bookmarks, and no secret", async () => {
    const { states } = await api<{ states: { stateId: string; state: { bookmarks: object } }[] }>(
      "/api/state",
    );
    expect(states.map((s) => s.stateId)).toEqual(["dev:planted", STATE_ID]);
    expect(Object.keys(states[1]!.state.bookmarks).sort()).toEqual(
      ["public-items", `public-${HOSTILE_TABLE}`].sort(),
    );
    const planted = await api<{ state: { state: unknown } }>(
      `/api/state/${encodeURIComponent("dev:planted")}`,
    );
    expect(JSON.stringify(planted.state.state)).toContain("pw ********");

    for (const path of ["/api/runs", "/api/state", "/api/state/dev%3Aplanted", "/", "/app.js"]) {
      expect(await (await fetch(new URL(path, url))).text()).not.toContain(db.password);
    }
  });

  test("refuses other host names (DNS rebinding) and writes; sends a strict content security policy", async () => {
    const rebound = await rawGet("/api/state", { Host: `evil.example:${new URL(url).port}` });
    expect(rebound.status).toBe(403);
    expect(rebound.body).not.toContain("bookmarks");
    expect((await rawGet("/api/runs", { Host: `localhost:${new URL(url).port}` })).status).toBe(200);
    expect((await rawGet("/api/runs", {}, "POST")).status).toBe(405);
    const page = await rawGet("/");
    expect(page.headers["content-security-policy"]).toContain("script-src 'self'");
    expect(page.headers["content-type"]).toBe("text/html; charset=utf-8");
  });
});

describe("sluice ui: the page in headless Chromium", () => {
  let page: Page;
  const outsideRequests: string[] = [];
  const pageErrors: string[] = [];

  beforeAll(async () => {
    page = await browser.newPage();
    page.on("request", (request) => {
      if (!request.url().startsWith(url)) outsideRequests.push(request.url());
    });
    page.on("pageerror", (error) => pageErrors.push(error.message));
    page.on("console", (message) => {
      if (message.type() === "error") pageErrors.push(message.text());
    });
    await page.goto(url);
    await page.waitForSelector("body[data-loaded=true]", { timeout: 15_000 });
  });

  afterAll(async () => {
    await page?.close();
  });

  test("lists the real runs with their rows, stream names shown as text", async () => {
    const rows = page.locator("#runs tbody tr.run");
    await expect.poll(() => rows.count()).toBe(3);
    const newestSuccess = recorded[1]!;
    const row = page.locator(`#runs tr[data-run-id="${newestSuccess.runId}"]`);
    expect(await row.locator("td.rows").textContent()).toBe(totalRows(newestSuccess).toLocaleString("en-US"));
    expect(await row.locator(".status").textContent()).toBe("success");
    expect(await row.locator(".state-id").textContent()).toBe(STATE_ID);
    const streams = await row.locator(".stream").allTextContents();
    expect(streams.some((s) => s.startsWith("public-items: 2,000, "))).toBe(true);
    // The table name is shown literally, not parsed: no script element came from it.
    expect(streams.some((s) => s.startsWith(`public-${HOSTILE_TABLE}: 7, `))).toBe(true);
    expect(await page.locator("#runs script").count()).toBe(0);
  });

  test("clicking the failed run shows its error, as text", async () => {
    const failed = failedRun();
    await page.locator(`#runs tr[data-run-id="${failed.runId}"]`).click();
    await page.waitForSelector("#run-detail:not([hidden]) #run-error");
    expect(await page.locator("#run-id").textContent()).toBe(failed.runId);
    expect(await page.locator("#run-error").textContent()).toBe(failed.error);
    expect(await page.locator("#run-error").textContent()).toContain(HOSTILE_SELECT);
    expect(await page.locator("#run-detail img").count()).toBe(0);
    expect(page.url()).toBe(`${url}#run=${encodeURIComponent(failed.runId)}`);
  });

  test("no stored text ran as script, and nothing was fetched from elsewhere", async () => {
    expect(await page.evaluate(() => (globalThis as { __sluiceXss?: number }).__sluiceXss)).toBeUndefined();
    expect(outsideRequests).toEqual([]);
    expect(pageErrors).toEqual([]);
  });

  test("the state section shows each state id, with secrets masked", async () => {
    const ids = await page.locator("#states .state h3").allTextContents();
    expect(ids).toEqual(["dev:planted", STATE_ID]);
    const bookmarks = await page.locator(`#states .state[data-state-id="${STATE_ID}"] pre`).textContent();
    expect(bookmarks).toContain('"public-items"');
    expect(await page.locator("body").textContent()).not.toContain(db.password);
    expect(await page.locator(`#states .state[data-state-id="dev:planted"] pre`).textContent()).toContain(
      "pw ********",
    );
  });

  test("the charts have a point per run, in time order, coloured by status", async () => {
    for (const chart of ["#rows-chart", "#duration-chart"]) {
      const ids = await page
        .locator(`${chart} circle.point`)
        .evaluateAll((circles) => circles.map((c) => c.getAttribute("data-run-id")));
      expect(ids).toEqual(recorded.map((r) => r.runId).reverse());
    }
    const failedPoint = page.locator(`#rows-chart circle[data-run-id="${failedRun().runId}"]`);
    expect(await failedPoint.getAttribute("class")).toContain("status-failed");
    // More rows is higher on the chart (smaller y): the second run moved 2,007 rows, the first 1,207.
    const cy = (runId: string) =>
      page.locator(`#rows-chart circle[data-run-id="${runId}"]`).getAttribute("cy").then(Number);
    expect(await cy(recorded[1]!.runId)).toBeLessThan(await cy(recorded[2]!.runId));
    // Clicking a point opens that run.
    await page.locator(`#rows-chart circle[data-run-id="${recorded[2]!.runId}"]`).click();
    await expect.poll(() => page.locator("#run-id").textContent()).toBe(recorded[2]!.runId);
  });
});

describe("sluice ui: stopping", () => {
  test("a port in use is a usage error naming --port", async () => {
    const result = await project.run(["--log-format", "text", "ui", "--port", new URL(url).port]);
    expect(result.code, describeResult(result)).toBe(2);
    expect(result.stderr).toContain(`--port ${new URL(url).port}: the port is already in use`);
  });

  test("an address this machine does not have is a usage error naming --host", async () => {
    // 203.0.113.0/24 is reserved for documentation: never an address of this machine.
    const result = await project.run(["--log-format", "text", "ui", "--host", "203.0.113.7", "--port", "0"]);
    expect(result.code, describeResult(result)).toBe(2);
    expect(result.stderr).toContain("--host 203.0.113.7: cannot listen on this address");
  });

  test("SIGTERM stops a server cleanly with exit code 0", async () => {
    const other = project.start(["ui", "--port", "0"]);
    const otherUrl = await urlOf(other);
    expect((await fetch(new URL("/api/state", otherUrl))).status).toBe(200);
    other.child.kill("SIGTERM");
    const result = await other.done;
    expect(result.code, describeResult(result)).toBe(0);
    expect(result.stderr).toContain("SIGTERM received: sluice ui stopped");
  });

  test("SIGINT stops the server cleanly with exit code 0", async () => {
    ui.child.kill("SIGINT");
    const result = await ui.done;
    expect(result.code, describeResult(result)).toBe(0);
    expect(result.stderr).toContain(`"event":"ui-stopped"`);
    await expect(fetch(new URL("/api/runs", url))).rejects.toThrow();
  });
});
