import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../support/pg.js";
import { describeResult } from "../../support/run-cli.js";
import { DUCKDB_FILE, PROJECT_STATE_ID, projectSpec, TestProject } from "../../support/test-project.js";
import { describeDifference, duckdbRowTexts, sourceRowTexts } from "../../support/table-diff.js";
import { RUN_ARGS, duckdbTables, loadedRowTexts, randomChanges, startWriter } from "./fault-support.js";
import { sigkillLoop } from "./sigkill-loop.js";

/**
 * FULL_TABLE runs killed with SIGKILL at random moments while the source keeps changing
 * (inserts, updates, deletes). A FULL_TABLE run fills `items__sluice_new` and swaps it in at the
 * end, so after every kill the table readers see is a whole earlier copy: no id twice, no row
 * newer than the source (each update raises `v`), and a stored state means the table exists.
 * Once the writes stop, a last run ends with DuckDB equal to the source and the copy table gone.
 */
const ROWS = 10_000;

let db: TestDatabase;
let project: TestProject;

beforeAll(async () => {
  db = await createTestDatabase("killfull");
  await db.query("CREATE TABLE items (id bigint PRIMARY KEY, v int NOT NULL, body text NOT NULL)");
  await db.query(`INSERT INTO items SELECT i, 0, repeat(md5(i::text), 3) FROM generate_series(1, ${ROWS}) i`);
  const spec = projectSpec(db, {
    select: ["public-items.*"],
    metadata: { "public-items": { "replication-method": "FULL_TABLE" } },
    tap: { batch_size_rows: 1000 },
  });
  project = TestProject.forDatabase(db, spec, { prefix: "sluice-kill-full-", localSpool: true });
});

afterAll(async () => {
  await db?.drop();
  project?.remove();
});

const sourceSql = "SELECT id::text AS k, v::text || '|' || body AS v FROM items";
const duckdbSql = "SELECT CAST(id AS VARCHAR) AS k, CAST(v AS VARCHAR) || '|' || body AS v FROM public.items";
const versionOf = (text: string): number => Number(text.slice(0, text.indexOf("|")));

describe("FULL_TABLE killed with SIGKILL", () => {
  test("the table is always a whole copy, no key twice, and a rerun ends equal to the source", async () => {
    const file = project.file(DUCKDB_FILE);
    const ids = { last: ROWS };
    const writer = startWriter(db, () => randomChanges("items", ids, 10));

    let transactions = 0;
    try {
      await sigkillLoop({
        start: () => ({ run: project.start(RUN_ARGS), kind: "full copy" }),
        check: async (_point, where) => {
          const stored = project.storedState(PROJECT_STATE_ID)?.bookmarks["public-items"];
          const loaded = await loadedRowTexts(file, "public.items", duckdbSql);
          if (stored !== undefined) expect(loaded, `${where}: a state but no table`).toBeDefined();
          if (loaded === undefined) return;
          expect(loaded.duplicates, `${where}: ids held twice`).toEqual([]);
          expect(loaded.count, `${where}: a part of a copy`).toBeGreaterThanOrEqual(ROWS * 0.9);
          const source = await sourceRowTexts(db, sourceSql);
          // Never a row from the future: ids are never reused and `v` only grows.
          for (const [k, v] of loaded.rows) {
            const now = source.get(k);
            if (now === undefined) continue; // deleted since that copy
            if (versionOf(now) === versionOf(v)) expect(v, `${where}: id ${k}`).toBe(now);
            else expect(versionOf(now), `${where}: id ${k} newer in DuckDB`).toBeGreaterThan(versionOf(v));
          }
        },
      });
    } finally {
      transactions = await writer.stop();
    }

    const rerun = await project.run(RUN_ARGS, { timeoutMs: 90_000 });
    expect(rerun.code, describeResult(rerun)).toBe(0);
    const source = await sourceRowTexts(db, sourceSql);
    const loaded = await duckdbRowTexts(file, duckdbSql);
    expect(loaded.duplicates).toEqual([]);
    expect(describeDifference(source, loaded.rows)).toBe("");
    expect(transactions, "the writer made changes").toBeGreaterThan(50);
    expect(await duckdbTables(file)).toEqual(["items"]);
  }, 300_000);
});
