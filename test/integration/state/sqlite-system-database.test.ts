import Database from "better-sqlite3";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, test } from "vitest";
import { StateError } from "../../../src/errors.js";
import { SqliteSystemDatabase, SQLITE_SCHEMA_VERSION } from "../../../src/state/sqlite-system-database.js";
import { describeRunHistory } from "./run-history-suite.js";
import { describeStateStore } from "./state-store-suite.js";

const dir = mkdtempSync(join(tmpdir(), "sluice-sqlite-state-"));
// A folder that does not exist yet: opening must create it.
const path = join(dir, "nested", ".sluice", "sluice.db");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Writes straight to the file, as another process (or one killed mid-run) would have. */
function withRawDatabase<T>(fn: (db: Database.Database) => T): T {
  const db = new Database(path, { timeout: 5_000 });
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

describeStateStore({
  name: "SQLite",
  open: async (options) =>
    (
      await SqliteSystemDatabase.open({
        path,
        ...(options?.lockTiming ? { lockTiming: options.lockTiming } : {}),
      })
    ).stateStore,
  recordedLocks: {
    plant: async (stateId, lock) =>
      withRawDatabase((db) => {
        db.prepare(
          `INSERT OR REPLACE INTO state_locks (state_id, token, pid, hostname, run_id, acquired_at, heartbeat_at)
           VALUES (?, 'planted', ?, ?, ?, ?, ?)`,
        ).run(
          stateId,
          lock.pid,
          lock.hostname,
          lock.runId ?? null,
          lock.acquiredAt.toISOString(),
          lock.heartbeatAt.toISOString(),
        );
      }),
    heartbeatOf: async (stateId) =>
      withRawDatabase((db) => {
        const row = db
          .prepare<[string], { heartbeat_at: string }>(
            "SELECT heartbeat_at FROM state_locks WHERE state_id = ?",
          )
          .get(stateId);
        return row === undefined ? undefined : new Date(row.heartbeat_at);
      }),
  },
});

describeRunHistory({
  name: "SQLite",
  open: async () => (await SqliteSystemDatabase.open({ path })).runHistory,
  setRunPid: async (runId, pid) =>
    withRawDatabase((db) => {
      db.prepare("UPDATE runs SET pid = ? WHERE run_id = ?").run(pid, runId);
    }),
});

test("the SQLite file is in WAL mode and records its schema version", async () => {
  const database = await SqliteSystemDatabase.open({ path });
  await database.close();
  withRawDatabase((db) => {
    // journal_mode=WAL is persistent in the file; synchronous is per connection, set on every open.
    expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    const versions = db
      .prepare<[], { version: number }>("SELECT version FROM schema_version ORDER BY version")
      .all();
    expect(versions.map((v) => v.version)).toEqual(
      Array.from({ length: SQLITE_SCHEMA_VERSION }, (_, i) => i + 1),
    );
  });
});

test("several processes opening a new database at once all succeed (migration runs once)", async () => {
  const fresh = join(dir, "concurrent", "sluice.db");
  const databases = await Promise.all(
    Array.from({ length: 4 }, () => SqliteSystemDatabase.open({ path: fresh })),
  );
  await databases[0]!.stateStore.set("x", { bookmarks: {} });
  expect(await databases[3]!.stateStore.get("x")).toEqual({ bookmarks: {} });
  for (const d of databases) await d.close();
  const db = new Database(fresh);
  expect(db.prepare("SELECT count(*) AS n FROM schema_version").get()).toEqual({ n: SQLITE_SCHEMA_VERSION });
  db.close();
});

test("a database written by a newer sluice is refused rather than misread", async () => {
  const newer = join(dir, "newer.db");
  (await SqliteSystemDatabase.open({ path: newer })).close();
  const db = new Database(newer);
  db.prepare("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)").run(
    99,
    new Date().toISOString(),
  );
  db.close();
  await expect(SqliteSystemDatabase.open({ path: newer })).rejects.toThrow(/schema version 99, newer than/);
});

test("a file that is not a SQLite database is a StateError naming the file", async () => {
  const garbage = join(dir, "garbage.db");
  writeFileSync(garbage, "this is not a database, just text that is long enough to have a header".repeat(20));
  const opening = SqliteSystemDatabase.open({ path: garbage });
  await expect(opening).rejects.toThrow(StateError);
  await expect(opening).rejects.toThrow(garbage);
  // SQLITE_NOTADB: the same file fails the same way, a retry cannot help.
  await expect(opening).rejects.toMatchObject({ transient: false, exitCode: 1 });
});

test("another process holding the write lock past the busy timeout is transient (SQLITE_BUSY): exit 75", async () => {
  const busy = join(dir, "busy.db");
  const database = await SqliteSystemDatabase.open({ path: busy, busyTimeoutMs: 50 });
  const other = new Database(busy, { timeout: 50 });
  try {
    other.exec("BEGIN IMMEDIATE");
    const storing = database.stateStore.set("x", { bookmarks: {} });
    await expect(storing).rejects.toThrow(
      new RegExp(
        `could not store the state of "x" in the system database at ${busy}: database is locked \\(SQLITE_BUSY`,
      ),
    );
    await expect(storing).rejects.toMatchObject({ name: "StateError", transient: true, exitCode: 75 });
    other.exec("ROLLBACK");
    // Once the other writer is done, the same write goes through.
    await database.stateStore.set("x", { bookmarks: {} });
    expect(await database.stateStore.get("x")).toEqual({ bookmarks: {} });
  } finally {
    other.close();
    await database.close();
  }
});

test("a corrupt stored state is a StateError naming the state id, not a crash", async () => {
  const database = await SqliteSystemDatabase.open({ path });
  withRawDatabase((db) => {
    db.prepare(
      "INSERT OR REPLACE INTO state (state_id, state, updated_at) VALUES ('corrupt', '{not json', ?)",
    ).run(new Date().toISOString());
  });
  await expect(database.stateStore.get("corrupt")).rejects.toThrow(
    /state of "corrupt" .* is not a valid Singer state/,
  );
  await database.close();
  // Closed: a clear error instead of the driver's.
  await expect(database.stateStore.get("corrupt")).rejects.toThrow(/is closed/);
});
