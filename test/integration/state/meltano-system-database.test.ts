import Database from "better-sqlite3";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ConfigError } from "../../../src/errors.js";
import { fromMeltanoExport } from "../../../src/protocol/meltano-state-export.js";
import { readMeltanoStates } from "../../../src/state/meltano-system-database.js";
import { SqliteSystemDatabase } from "../../../src/state/sqlite-system-database.js";
import { createTestDatabase, type TestDatabase } from "../../support/pg.js";

/**
 * Meltano's states read from its system database, as Meltano keeps them: the table `state`
 * (Meltano's migrations make it; here its columns as SQLAlchemy maps JobState), one row per state
 * id, `completed_state` and `partial_state` as `{"singer_state": ...}` JSON, in a SQLite
 * meltano.db and in PostgreSQL.
 */
const COMPLETED = {
  singer_state: {
    currently_syncing: null,
    bookmarks: {
      "public-orders": {
        replication_key: "updated_at",
        replication_key_value: "2024-01-01T05:00:00+00:00",
        version: 17,
      },
      "public-customers": { version: 18, last_replication_method: "FULL_TABLE" },
    },
  },
};
// A run that failed since: its newer bookmark value, and not its other keys.
const PARTIAL = {
  singer_state: { bookmarks: { "public-orders": { replication_key_value: "2024-01-01T08:00:00+00:00" } } },
};
const EXPECTED = new Map([
  [
    "dev:tap-postgres-to-target-postgres",
    {
      currently_syncing: null,
      bookmarks: {
        "public-orders": {
          replication_key: "updated_at",
          replication_key_value: "2024-01-01T08:00:00+00:00",
          version: 17,
        },
        "public-customers": { version: 18, last_replication_method: "FULL_TABLE" },
      },
    },
  ],
  ["prod:tap-postgres-to-target-postgres", { bookmarks: { "public-orders": { lsn: 123 } } }],
]);

let dir: string;
let db: TestDatabase;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-meltano-db-"));
  db = await createTestDatabase("meltano_sysdb");
});

afterAll(async () => {
  fs.rmSync(dir, { recursive: true, force: true });
  await db?.drop();
});

describe("readMeltanoStates", () => {
  test("a SQLite meltano.db: completed and partial states merged stream by stream, as meltano state get", async () => {
    const file = path.join(dir, "meltano.db");
    const sqlite = new Database(file);
    sqlite.exec(`CREATE TABLE state (state_id VARCHAR NOT NULL PRIMARY KEY, updated_at DATETIME,
      partial_state JSON, completed_state JSON)`);
    const insert = sqlite.prepare("INSERT INTO state VALUES (?, '2024-01-01 00:00:00', ?, ?)");
    insert.run("dev:tap-postgres-to-target-postgres", JSON.stringify(PARTIAL), JSON.stringify(COMPLETED));
    insert.run(
      "prod:tap-postgres-to-target-postgres",
      "{}",
      JSON.stringify({ singer_state: { bookmarks: { "public-orders": { lsn: 123 } } } }),
    );
    sqlite.close();
    expect(await readMeltanoStates({ kind: "sqlite", path: file })).toEqual(EXPECTED);
  });

  test("a PostgreSQL system database (json columns), in the schema the URI's search_path names", async () => {
    await db.query(`CREATE SCHEMA meltano;
      CREATE TABLE meltano.state (state_id varchar PRIMARY KEY, updated_at timestamp, partial_state json, completed_state json)`);
    await db.query("INSERT INTO meltano.state VALUES ($1, now(), $2, $3), ($4, now(), NULL, $5)", [
      "dev:tap-postgres-to-target-postgres",
      JSON.stringify(PARTIAL),
      JSON.stringify(COMPLETED),
      "prod:tap-postgres-to-target-postgres",
      JSON.stringify({ singer_state: { bookmarks: { "public-orders": { lsn: 123 } } } }),
    ]);
    const url = new URL(db.url);
    url.searchParams.set("options", "-c search_path=meltano");
    expect(await readMeltanoStates({ kind: "postgres", url: url.toString() })).toEqual(EXPECTED);
    // Without that search_path there is no table "state": said so, password hidden.
    const wrong = readMeltanoStates({ kind: "postgres", url: db.url });
    await expect(wrong).rejects.toThrow(ConfigError);
    await expect(wrong).rejects.toThrow(/has no table "state": it is not a Meltano system database/);
    await expect(wrong).rejects.not.toThrow(db.password);
  });

  test("a file that is not there, or not Meltano's, is a configuration error saying what to give", async () => {
    await expect(readMeltanoStates({ kind: "sqlite", path: path.join(dir, "none.db") })).rejects.toThrow(
      /no Meltano system database at .*none\.db: give the path of the project's meltano\.db/,
    );
    const other = path.join(dir, "other.db");
    new Database(other).exec("CREATE TABLE runs (id integer)").close();
    await expect(readMeltanoStates({ kind: "sqlite", path: other })).rejects.toThrow(/has no table "state"/);
  });
});

describe("Meltano's meltano.db named as sluice's system database", () => {
  test("is refused before anything in it changes, saying how to keep them apart and import its states", async () => {
    const file = path.join(dir, "meltano-as-system.db");
    const sqlite = new Database(file);
    sqlite.exec(`CREATE TABLE alembic_version (version_num varchar(32) NOT NULL PRIMARY KEY);
      CREATE TABLE state (state_id VARCHAR NOT NULL PRIMARY KEY, updated_at DATETIME, partial_state JSON, completed_state JSON)`);
    sqlite.close();
    const opened = SqliteSystemDatabase.open({ path: file });
    await expect(opened).rejects.toThrow(ConfigError);
    await expect(opened).rejects.toThrow(
      `the system database at ${file} is Meltano's (it has Meltano's tables): sluice keeps its own. Set SLUICE_DATABASE_URI=sqlite:///.sluice/sluice.db`,
    );
    const after = new Database(file, { readonly: true });
    expect(after.pragma("journal_mode", { simple: true })).toBe("delete");
    expect(
      after.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all(),
    ).toEqual(["alembic_version", "state"]);
    after.close();
  });
});

describe("fromMeltanoExport", () => {
  test("one state as meltano state get prints it is refused, saying how to store it", () => {
    expect(() => fromMeltanoExport(COMPLETED)).toThrow(
      "this is one state (as `meltano state get <id>` prints it), not states by state id: store it with `sluice state set <state id> --input <file> --force`",
    );
  });
});
