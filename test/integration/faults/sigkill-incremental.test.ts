import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../support/pg.js";
import { describeResult } from "../../support/run-cli.js";
import { DUCKDB_FILE, PROJECT_STATE_ID, projectSpec, TestProject } from "../../support/test-project.js";
import { describeDifference, duckdbRowTexts, sourceRowTexts } from "../../support/table-diff.js";
import { RUN_ARGS, duckdbTables, loadedRowTexts, randomBetween, startWriter } from "./fault-support.js";
import { sigkillLoop } from "./sigkill-loop.js";

/**
 * INCREMENTAL runs killed with SIGKILL at random moments while the source keeps changing
 * (inserts and updates; INCREMENTAL cannot see deletes). The replication key `rev` comes from a
 * sequence and one writer commits at a time, so key order is commit order. After every kill:
 * DuckDB holds no id twice, every source row whose `rev` is at or below the stored bookmark is in
 * DuckDB as it is in the source, and DuckDB holds no row newer than the source. Once the writes
 * stop, a last run ends with DuckDB equal to the source.
 */
const ROWS = 10_000;

let db: TestDatabase;
let project: TestProject;

beforeAll(async () => {
  db = await createTestDatabase("killinc");
  await db.query("CREATE SEQUENCE rev_seq");
  await db.query(
    "CREATE TABLE events (id bigint PRIMARY KEY, rev bigint NOT NULL DEFAULT nextval('rev_seq'), v int NOT NULL, body text NOT NULL)",
  );
  await db.query(
    `INSERT INTO events (id, v, body) SELECT i, 0, repeat(md5(i::text), 3) FROM generate_series(1, ${ROWS}) i`,
  );
  const spec = projectSpec(db, {
    select: ["public-events.*"],
    metadata: { "public-events": { "replication-method": "INCREMENTAL", "replication-key": "rev" } },
    tap: { batch_size_rows: 1000 },
  });
  project = TestProject.forDatabase(db, spec, { prefix: "sluice-kill-incremental-", localSpool: true });
});

afterAll(async () => {
  await db?.drop();
  project?.remove();
});

const sourceSql = "SELECT id::text AS k, rev::text || '|' || v::text || '|' || body AS v FROM events";
const duckdbSql =
  "SELECT CAST(id AS VARCHAR) AS k, CAST(rev AS VARCHAR) || '|' || CAST(v AS VARCHAR) || '|' || body AS v FROM public.events";
const revOf = (text: string): number => Number(text.slice(0, text.indexOf("|")));

describe("INCREMENTAL killed with SIGKILL", () => {
  test("the bookmark never points past DuckDB, no key twice, and a rerun ends equal to the source", async () => {
    const file = project.file(DUCKDB_FILE);
    let next = ROWS;
    const writer = startWriter(db, () => {
      const statements: string[] = [];
      for (let i = randomBetween(1, 10); i > 0; i--) {
        if (Math.random() < 0.4)
          statements.push(`INSERT INTO events (id, v, body) VALUES (${++next}, 0, 'new')`);
        else {
          statements.push(
            `UPDATE events SET rev = nextval('rev_seq'), v = v + 1, body = body || '.' WHERE id = ${randomBetween(1, next)}`,
          );
        }
      }
      return statements;
    });

    let transactions = 0;
    try {
      await sigkillLoop({
        start: () => {
          const stored = project.storedState(PROJECT_STATE_ID)?.bookmarks["public-events"];
          // Some runs start over with --full-refresh, so that kills keep landing in long loads
          // (merged into the rows already there) and not only in short runs of recent changes.
          const refresh = stored === undefined || Math.random() < 0.35;
          const args = refresh && stored !== undefined ? [...RUN_ARGS, "--full-refresh"] : [...RUN_ARGS];
          return { run: project.start(args), kind: refresh ? "all rows" : "from the bookmark" };
        },
        check: async (_point, where) => {
          const value =
            project.storedState(PROJECT_STATE_ID)?.bookmarks["public-events"]?.replication_key_value;
          const bookmark = value === undefined || value === null ? undefined : Number(value);
          const loaded = await loadedRowTexts(file, "public.events", duckdbSql);
          if (bookmark !== undefined) expect(loaded, `${where}: a bookmark but no table`).toBeDefined();
          if (loaded === undefined) return;
          expect(loaded.duplicates, `${where}: ids held twice`).toEqual([]);
          const source = await sourceRowTexts(db, sourceSql);
          if (bookmark !== undefined) {
            const maxRev = Math.max(0, ...[...loaded.rows.values()].map(revOf));
            expect(
              maxRev,
              `${where}: the bookmark ${bookmark} is past DuckDB's newest rev`,
            ).toBeGreaterThanOrEqual(bookmark);
            const upToBookmark = new Map([...source].filter(([, v]) => revOf(v) <= bookmark));
            const loadedUpTo = new Map([...loaded.rows].filter(([k]) => upToBookmark.has(k)));
            expect(
              describeDifference(upToBookmark, loadedUpTo),
              `${where}: rows up to bookmark ${bookmark}`,
            ).toBe("");
          }
          // Never a row from the future: the source only moves forward.
          for (const [k, v] of loaded.rows) {
            const now = source.get(k);
            expect(now, `${where}: id ${k} is not in the source`).toBeDefined();
            if (revOf(now!) === revOf(v)) expect(v, `${where}: id ${k}`).toBe(now);
            else expect(revOf(now!), `${where}: id ${k} newer in DuckDB`).toBeGreaterThan(revOf(v));
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
    expect(await duckdbTables(file)).toEqual(["events"]);
  }, 300_000);
});
