import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, test } from "vitest";
import {
  openRunHistory,
  openStateAndRunHistory,
  openStateStore,
} from "../../../src/state/open-system-database.js";
import { createTestDatabase } from "../../support/pg.js";

const dir = mkdtempSync(join(tmpdir(), "sluice-open-state-"));
const pgDb = await createTestDatabase("open_state");
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await pgDb.drop();
});

test("state in a file folder while run history stays in the SQLite system database", async () => {
  const opened = await openStateAndRunHistory({
    database: { kind: "sqlite", path: join(dir, "sys", "sluice.db") },
    stateBackend: { kind: "file", dir: join(dir, "files") },
  });
  await opened.stateStore.set("dev:a-to-b", { bookmarks: { s: { version: 1 } } });
  await opened.runHistory.start({
    runId: "r1",
    stateId: "dev:a-to-b",
    extractor: "a",
    loader: "b",
    startedAt: new Date(),
  });
  await opened.close();
  expect(readdirSync(join(dir, "files"))).toEqual(["dev%3Aa-to-b.json"]);
  // The system database has the run, not the state.
  const sqliteState = await openStateStore({ kind: "sqlite", path: join(dir, "sys", "sluice.db") });
  expect(await sqliteState.get("dev:a-to-b")).toBeUndefined();
  await sqliteState.close();
  const runs = await openRunHistory({ kind: "sqlite", path: join(dir, "sys", "sluice.db") });
  expect((await runs.get("r1"))?.stateId).toBe("dev:a-to-b");
  await runs.close();
});

test("state and run history share one PostgreSQL database (and pool) when state_backend is absent", async () => {
  const opened = await openStateAndRunHistory({ database: { kind: "postgres", url: pgDb.url } });
  await opened.stateStore.set("dev:a-to-b", { bookmarks: {} });
  await opened.runHistory.start({
    runId: "r1",
    stateId: "dev:a-to-b",
    extractor: "a",
    loader: "b",
    startedAt: new Date(),
  });
  await opened.close();
  const counts = await pgDb.query<{ state: string; runs: string }>(
    "SELECT (SELECT count(*) FROM sluice.state) AS state, (SELECT count(*) FROM sluice.runs) AS runs",
  );
  expect(counts[0]).toEqual({ state: "1", runs: "1" });
  // Closing the shared database twice (once per role) is harmless.
  await expect(opened.runHistory.close()).resolves.toBeUndefined();
});
