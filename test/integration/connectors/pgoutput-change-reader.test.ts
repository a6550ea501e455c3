import { createHash } from "node:crypto";
import fs from "node:fs";
import { parse as parseCsv } from "csv-parse/sync";
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import type { RecordBatch } from "../../../src/connectors/batch.js";
import type { ChangeEvent } from "../../../src/connectors/connector.js";
import {
  describePgType,
  readChanges,
  type ChangeReaderOptions,
  type ChangeTable,
} from "../../../src/connectors/tap-postgres/cdc/change-reader.js";
import { decodePgOutput } from "../../../src/connectors/tap-postgres/cdc/pgoutput-decoder.js";
import type { ReplicationMessage } from "../../../src/connectors/tap-postgres/cdc/replication-message.js";
import { discoverTables } from "../../../src/connectors/tap-postgres/postgres-discovery.js";
import { createTestDatabase, type TestDatabase } from "../../support/pg.js";
import { tempDir } from "../../support/pipeline.js";
import { openSlotSession, type SlotChange, type SlotSession } from "./pgoutput-support.js";

/**
 * The change reader fed with what a real slot sends: rows, deletes, unchanged TOAST values,
 * truncates and new columns become the batches and checkpoints the runner loads and stores.
 */
let db: TestDatabase;
let session: SlotSession;
let spoolDir: string;

beforeAll(async () => {
  db = await createTestDatabase("pgoutput_reader");
  await db.query(`
    CREATE TABLE items (id integer PRIMARY KEY, name text, doc jsonb, body text, price money);
    ALTER TABLE items ALTER COLUMN body SET STORAGE EXTERNAL;
    CREATE TABLE other (id integer PRIMARY KEY, v text);
    CREATE TABLE ignored (id integer PRIMARY KEY);
    CREATE TABLE full_rows (id integer PRIMARY KEY, body text, note text);
    ALTER TABLE full_rows ALTER COLUMN body SET STORAGE EXTERNAL;
    ALTER TABLE full_rows REPLICA IDENTITY FULL;
  `);
  session = await openSlotSession(db, "items, other, ignored, full_rows");
  spoolDir = tempDir("pgoutput-reader-");
});

afterAll(async () => {
  await session?.close();
  await db?.drop();
  if (spoolDir) fs.rmSync(spoolDir, { recursive: true, force: true });
});

beforeEach(async () => {
  // Each test starts from empty tables and an empty slot, at the plan's columns.
  await session.client.query("DROP TABLE IF EXISTS items_new_columns");
  await session.client.query("TRUNCATE items, other, ignored, full_rows");
  await session.take();
});

async function tables(names: string[], fromLsn = 0n): Promise<ChangeTable[]> {
  const discovered = await discoverTables(session.client, ["public"]);
  return names.map((name) => {
    const t = discovered.find((d) => d.tableName === name)!;
    return {
      plan: {
        replicationMethod: "LOG_BASED",
        schema: {
          streamId: t.streamId,
          sourceSchema: t.schemaName,
          sourceTable: t.tableName,
          columns: t.columns.map(({ name: n, type, nullable }) => ({ name: n, type, nullable })),
          keyProperties: t.keyProperties,
        },
      },
      pgTypes: new Map(t.columns.map((c) => [c.name, c.pg])),
      knownColumns: t.columns.map((c) => c.name),
      fromLsn,
    };
  });
}

/** The slot's changes as the replication connection delivers them, ending with a keepalive. */
function asMessages(changes: SlotChange[], walEnd: bigint): ReplicationMessage[] {
  return [
    ...changes.map((c): ReplicationMessage => ({
      type: "data",
      walStart: c.lsn,
      walEnd: c.lsn,
      data: c.data,
    })),
    { type: "keepalive", walEnd },
  ];
}

async function* iterate(messages: ReplicationMessage[]): AsyncGenerator<ReplicationMessage> {
  for (const m of messages) yield m;
}

/** Commit end LSNs, in order, of the changes. */
function commitEnds(changes: SlotChange[]): string[] {
  return changes.flatMap((c) => {
    const m = decodePgOutput(c.data);
    return m.type === "commit" ? [m.endLsn.toString()] : [];
  });
}

let sequence = 1_000;
function options(
  messages: AsyncIterable<ReplicationMessage>,
  captured: ChangeTable[],
  overrides: Partial<ChangeReaderOptions> = {},
): ChangeReaderOptions {
  return {
    messages,
    tables: captured,
    spoolDir,
    maxBatchBytes: 64 * 1024 * 1024,
    maxBatchRows: 100_000,
    allocateSequence: (rows) => {
      const base = sequence;
      sequence += rows;
      return base;
    },
    maxRunSeconds: 3600,
    idleSeconds: 3600,
    follow: false,
    signal: new AbortController().signal,
    commitEveryChanges: 1_000_000,
    commitEverySeconds: 3600,
    describeType: (oid, typmod, column) =>
      describePgType(
        async (sql) => (await session.client.query(sql)).rows as Record<string, unknown>[],
        oid,
        typmod,
        column,
      ),
    ...overrides,
  };
}

type Row = Record<string, string | null>;
type Event =
  | { type: "batch"; streamId: string; columns: string[]; rows: Row[]; batch: RecordBatch }
  | Exclude<ChangeEvent, { type: "batch" }>;

function readBatch(batch: RecordBatch): Row[] {
  const records = parseCsv(fs.readFileSync(batch.path), {
    cast: (value, context) => (context.quoting || value !== "" ? value : null),
  }) as (string | null)[][];
  return records.map((r) => Object.fromEntries(batch.columns.map((c, i) => [c, r[i] ?? null])));
}

async function collect(
  source: AsyncIterable<ChangeEvent>,
  onEvent?: (e: ChangeEvent) => void,
): Promise<Event[]> {
  const events: Event[] = [];
  for await (const event of source) {
    onEvent?.(event);
    if (event.type === "batch") {
      const rows = readBatch(event.batch);
      expect(event.batch.rowCount).toBe(rows.length);
      expect(event.batch.byteCount).toBe(fs.statSync(event.batch.path).size);
      events.push({
        type: "batch",
        streamId: event.batch.streamId,
        columns: event.batch.columns,
        rows,
        batch: event.batch,
      });
    } else {
      events.push(event);
    }
  }
  return events;
}

const CDC = ["_sdc_deleted_at", "_sdc_sequence", "_sdc_unchanged"];
const TIMESTAMPTZ = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{1,6})?\+00$/;

describe("change batches from a real slot", () => {
  test("inserts, updates and deletes, in commit order, with a checkpoint after each commit", async () => {
    const c = session.client;
    await c.query("BEGIN");
    await c.query(
      "INSERT INTO items (id, name, price) VALUES (1, 'one', '-1234.5'), (2, 'two, \"2\"', NULL)",
    );
    await c.query("INSERT INTO other VALUES (1, 'x')");
    await c.query("INSERT INTO ignored VALUES (1)");
    await c.query("COMMIT");
    await c.query("UPDATE items SET name = '' WHERE id = 1");
    await c.query("DELETE FROM items WHERE id = 2");
    const changes = await session.take();
    // Other WAL after the last change: the server's end moves past the last commit.
    await c.query("CREATE TABLE unpublished (x integer); DROP TABLE unpublished");
    const walEnd = await session.currentLsn();
    const ends = commitEnds(changes);
    expect(ends).toHaveLength(3);
    expect(walEnd).toBeGreaterThan(BigInt(ends[2]!));

    const events = await collect(
      readChanges(
        options(iterate(asMessages(changes, walEnd)), await tables(["items", "other"]), {
          commitEveryChanges: 1,
        }),
      ),
    );
    expect(
      events.map((e) =>
        e.type === "batch"
          ? `batch ${e.streamId} ${e.rows.length}`
          : e.type === "checkpoint"
            ? `checkpoint ${e.position}`
            : e.type,
      ),
    ).toEqual([
      "batch public-items 2",
      "batch public-other 1",
      `checkpoint ${ends[0]}`,
      "batch public-items 1",
      `checkpoint ${ends[1]}`,
      "batch public-items 1",
      `checkpoint ${ends[2]}`,
      // Everything up to the server's WAL end was received: the slot may move there.
      `checkpoint ${walEnd}`,
    ]);
    const items = events.flatMap((e) => (e.type === "batch" && e.streamId === "public-items" ? e.rows : []));
    expect((events[0] as { columns: string[] }).columns).toEqual([
      "id",
      "name",
      "doc",
      "body",
      "price",
      ...CDC,
    ]);
    expect(items.map(({ _sdc_sequence, _sdc_deleted_at, ...rest }) => rest)).toEqual([
      { id: "1", name: "one", doc: null, body: null, price: "-1234.50", _sdc_unchanged: null },
      { id: "2", name: 'two, "2"', doc: null, body: null, price: null, _sdc_unchanged: null },
      { id: "1", name: "", doc: null, body: null, price: "-1234.50", _sdc_unchanged: null },
      // A delete carries the key; every other field is unchanged (not NULL).
      { id: "2", name: null, doc: null, body: null, price: null, _sdc_unchanged: "1,2,3,4" },
    ]);
    expect(items.slice(0, 3).every((r) => r._sdc_deleted_at === null)).toBe(true);
    const deletedAt = items[3]!._sdc_deleted_at!;
    expect(deletedAt).toMatch(TIMESTAMPTZ);
    expect(Math.abs(Date.parse(deletedAt.replace(" ", "T").replace("+00", "Z")) - Date.now())).toBeLessThan(
      60_000,
    );
    // Sequences increase in commit order across batches.
    const sequences = items.map((r) => Number(r._sdc_sequence));
    expect([...sequences].sort((a, b) => a - b)).toEqual(sequences);
    expect(new Set(sequences).size).toBe(4);
    // Within a batch, row i has sequenceBase + i.
    const first = events[0] as { batch: RecordBatch; rows: Row[] };
    expect(first.rows.map((r) => Number(r._sdc_sequence))).toEqual([
      first.batch.sequenceBase,
      first.batch.sequenceBase + 1,
    ]);
  });

  test("an update that leaves TOASTed values out marks them unchanged, not NULL", async () => {
    const c = session.client;
    await c.query(`INSERT INTO items (id, name, doc, body) VALUES
      (1, 'a', (SELECT jsonb_agg(md5(i::text || random()::text)) FROM generate_series(1, 300) i), repeat(md5('x'), 200))`);
    await c.query("UPDATE items SET name = 'b' WHERE id = 1");
    await c.query("UPDATE items SET id = 5 WHERE id = 1"); // a new key: the old one is deleted
    const changes = await session.take();
    const events = await collect(
      readChanges(options(iterate(asMessages(changes, await session.currentLsn())), await tables(["items"]))),
    );
    const batches = events.filter((e) => e.type === "batch");
    expect(batches).toHaveLength(1);
    const rows = batches[0]!.rows;
    expect(rows[0]!.body).toBe(createHash("md5").update("x").digest("hex").repeat(200));
    expect(rows[0]!.doc!.length).toBeGreaterThan(2000);
    expect(rows.slice(1).map(({ _sdc_sequence, ...rest }) => rest)).toEqual([
      {
        id: "1",
        name: "b",
        doc: null,
        body: null,
        price: null,
        _sdc_deleted_at: null,
        _sdc_unchanged: "2,3",
      },
      {
        id: "1",
        name: null,
        doc: null,
        body: null,
        price: null,
        _sdc_deleted_at: expect.stringMatching(TIMESTAMPTZ),
        _sdc_unchanged: "1,2,3,4",
      },
      {
        id: "5",
        name: "b",
        doc: null,
        body: null,
        price: null,
        _sdc_deleted_at: null,
        _sdc_unchanged: "2,3",
      },
    ]);
  });

  test("under REPLICA IDENTITY FULL, a value TOAST left out of the new row comes from the old row", async () => {
    const c = session.client;
    await c.query("INSERT INTO full_rows VALUES (1, repeat(md5('y'), 200), 'a')");
    await c.query("UPDATE full_rows SET note = 'b'");
    await c.query("DELETE FROM full_rows");
    const changes = await session.take();
    const events = await collect(
      readChanges(
        options(iterate(asMessages(changes, await session.currentLsn())), await tables(["full_rows"])),
      ),
    );
    const rows = events.flatMap((e) => (e.type === "batch" ? e.rows : []));
    const body = createHash("md5").update("y").digest("hex").repeat(200);
    expect(rows.map(({ _sdc_sequence, _sdc_deleted_at, ...rest }) => rest)).toEqual([
      { id: "1", body, note: "a", _sdc_unchanged: null },
      { id: "1", body, note: "b", _sdc_unchanged: null },
      { id: "1", body, note: "b", _sdc_unchanged: null },
    ]);
    expect(rows[2]!._sdc_deleted_at).toMatch(TIMESTAMPTZ);
  });

  test("a truncate flushes the stream's rows first, then says when it happened", async () => {
    const c = session.client;
    await c.query("BEGIN");
    await c.query("INSERT INTO items (id) VALUES (1)");
    await c.query("INSERT INTO other VALUES (1, 'x')");
    await c.query("TRUNCATE items, ignored");
    await c.query("INSERT INTO items (id) VALUES (2)");
    await c.query("COMMIT");
    const before = Date.now();
    const changes = await session.take();
    const events = await collect(
      readChanges(
        options(iterate(asMessages(changes, await session.currentLsn())), await tables(["items", "other"])),
      ),
    );
    expect(
      events.map((e) =>
        e.type === "batch" ? `batch ${e.streamId} ${e.rows.map((r) => r.id).join(",")}` : e.type,
      ),
    ).toEqual([
      "batch public-items 1",
      "truncate",
      "batch public-items 2",
      "batch public-other 1",
      "checkpoint",
    ]);
    const truncate = events[1] as Extract<ChangeEvent, { type: "truncate" }>;
    expect(truncate.streamIds).toEqual(["public-items"]);
    expect(Math.abs(truncate.at.getTime() - before)).toBeLessThan(60_000);
  });

  test("a column added at the source joins the stream; a dropped one is left unchanged", async () => {
    const c = session.client;
    const captured = await tables(["other"]);
    await c.query("INSERT INTO other VALUES (1, 'before')");
    await c.query("ALTER TABLE other ADD COLUMN amount numeric(5,2), ADD COLUMN tags text[][]");
    await c.query("INSERT INTO other VALUES (2, 'after', 1.5, '{a,b}')");
    await c.query("ALTER TABLE other DROP COLUMN v");
    await c.query("UPDATE other SET amount = 2 WHERE id = 1");
    const changes = await session.take();
    const events = await collect(
      readChanges(options(iterate(asMessages(changes, await session.currentLsn())), captured)),
    );
    await c.query("ALTER TABLE other ADD COLUMN v text"); // back to the shape the other tests expect
    await c.query("ALTER TABLE other DROP COLUMN amount, DROP COLUMN tags");
    expect(events.map((e) => e.type)).toEqual(["batch", "schema", "batch", "checkpoint"]);
    const [before, schema, after] = events as [
      Event & { type: "batch" },
      Extract<ChangeEvent, { type: "schema" }>,
      Event & { type: "batch" },
    ];
    expect(before.columns).toEqual(["id", "v", ...CDC]);
    expect(before.rows.map((r) => r.v)).toEqual(["before"]);
    expect(schema.schema.columns.map((col) => [col.name, col.type])).toEqual([
      ["id", expect.objectContaining({ kind: "integer" })],
      ["v", expect.objectContaining({ kind: "string" })],
      ["amount", { kind: "decimal", precision: 5, scale: 2, sqlType: "numeric(5,2)" }],
      [
        "tags",
        { kind: "array", element: { kind: "string", sqlType: "text" }, dimensions: 2, sqlType: "text[]" },
      ],
    ]);
    expect(after.columns).toEqual(["id", "v", "amount", "tags", ...CDC]);
    expect(after.rows.map(({ _sdc_sequence, ...rest }) => rest)).toEqual([
      { id: "2", v: "after", amount: "1.50", tags: '["a","b"]', _sdc_deleted_at: null, _sdc_unchanged: null },
      // v was dropped at the source: the warehouse keeps its column and last value.
      { id: "1", v: null, amount: "2.00", tags: null, _sdc_deleted_at: null, _sdc_unchanged: "1" },
    ]);
  });

  test("a captured table renamed at the source stops the reader instead of losing its changes", async () => {
    const c = session.client;
    await c.query("INSERT INTO other VALUES (1, 'x')");
    await c.query("ALTER TABLE other RENAME TO other_renamed");
    await c.query("INSERT INTO other_renamed VALUES (2, 'y')");
    await c.query("ALTER TABLE other_renamed RENAME TO other");
    const changes = await session.take();
    const filesBefore = fs.readdirSync(spoolDir).length;
    await expect(
      collect(
        readChanges(
          options(iterate(asMessages(changes, await session.currentLsn())), await tables(["other"])),
        ),
      ),
    ).rejects.toThrow(/public\.other was renamed to public\.other_renamed/);
    // The pending batch (the first insert) never reached the runner: its file is gone.
    expect(fs.readdirSync(spoolDir)).toHaveLength(filesBefore);
  });

  test("transactions a table's snapshot already holds are skipped for that table only", async () => {
    const c = session.client;
    await c.query("INSERT INTO items (id) VALUES (1)");
    await c.query("INSERT INTO other VALUES (1, 'x')");
    const snapshotAt = await session.currentLsn();
    await c.query("INSERT INTO items (id) VALUES (2)");
    await c.query("INSERT INTO other VALUES (2, 'y')");
    const changes = await session.take();
    const [items] = await tables(["items"], snapshotAt);
    const [other] = await tables(["other"], 0n);
    const events = await collect(
      readChanges(options(iterate(asMessages(changes, await session.currentLsn())), [items!, other!])),
    );
    const ids = (streamId: string): string[] =>
      events.flatMap((e) => (e.type === "batch" && e.streamId === streamId ? e.rows.map((r) => r.id!) : []));
    expect(ids("public-items")).toEqual(["2"]);
    expect(ids("public-other")).toEqual(["1", "2"]);
  });

  test("a big transaction is cut into batches of at most maxBatchRows, checkpointed only at its commit", async () => {
    const c = session.client;
    await c.query("INSERT INTO items (id, name) SELECT i, 'row ' || i FROM generate_series(1, 10) i");
    const changes = await session.take();
    const [end] = commitEnds(changes);
    const events = await collect(
      readChanges(
        options(iterate(asMessages(changes, await session.currentLsn())), await tables(["items"]), {
          maxBatchRows: 4,
          commitEveryChanges: 1,
        }),
      ),
    );
    expect(
      events.map((e) => (e.type === "batch" ? e.rows.length : e.type === "checkpoint" ? e.position : e.type)),
    ).toEqual([4, 4, 2, end]);
    for (const e of events) {
      if (e.type !== "batch") continue;
      expect(e.rows.map((r) => Number(r._sdc_sequence))).toEqual(
        e.rows.map((_, i) => e.batch.sequenceBase + i),
      );
    }
    const all = events.flatMap((e) => (e.type === "batch" ? e.rows.map((r) => r.id) : []));
    expect(all).toEqual(["1", "2", "3", "4", "5", "6", "7", "8", "9", "10"]);
  });

  test("batches are cut by bytes too", async () => {
    const c = session.client;
    await c.query("INSERT INTO items (id, name) SELECT i, repeat('x', 1000) FROM generate_series(1, 5) i");
    const changes = await session.take();
    const events = await collect(
      readChanges(
        options(iterate(asMessages(changes, await session.currentLsn())), await tables(["items"]), {
          maxBatchBytes: 2500,
        }),
      ),
    );
    expect(events.flatMap((e) => (e.type === "batch" ? [e.rows.length] : []))).toEqual([3, 2]);
  });
});

describe("when the reader stops", () => {
  /** Keepalives forever, each a second later on the fake clock. */
  function idleStream(clock: { t: number }, walEnd: bigint, before: ReplicationMessage[] = []) {
    let count = 0;
    const stream = (async function* (): AsyncGenerator<ReplicationMessage> {
      yield* before;
      for (;;) {
        clock.t += 1000;
        count += 1;
        yield { type: "keepalive", walEnd };
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    return { stream, keepalives: () => count };
  }

  test("batch mode ends after idleSeconds without a change, with a checkpoint at the WAL end", async () => {
    await session.client.query("INSERT INTO items (id) VALUES (1)");
    const changes = await session.take();
    const walEnd = await session.currentLsn();
    const clock = { t: 1_000_000 };
    const { stream, keepalives } = idleStream(clock, walEnd, asMessages(changes, walEnd).slice(0, -1));
    const events = await collect(
      readChanges(options(stream, await tables(["items"]), { idleSeconds: 5, now: () => clock.t })),
    );
    expect(events.map((e) => (e.type === "checkpoint" ? e.position : e.type))).toEqual([
      "batch",
      walEnd.toString(),
    ]);
    expect(keepalives()).toBe(5);
  });

  test("batch mode ends once a keepalive reaches stopAt, and after maxRunSeconds", async () => {
    const walEnd = await session.currentLsn();
    const clock = { t: 0 };
    const reached = idleStream(clock, walEnd);
    const events = await collect(
      readChanges(options(reached.stream, await tables(["items"]), { stopAt: walEnd, now: () => clock.t })),
    );
    expect(events).toEqual([{ type: "checkpoint", position: walEnd.toString() }]);
    expect(reached.keepalives()).toBe(1);

    const longRun = idleStream(clock, walEnd);
    const cut = await collect(
      readChanges(
        options(longRun.stream, await tables(["items"]), {
          stopAt: walEnd + 1000n,
          maxRunSeconds: 3,
          now: () => clock.t,
        }),
      ),
    );
    expect(longRun.keepalives()).toBe(3);
    // A run cut short says so.
    expect(cut.at(-1)).toEqual({
      type: "warning",
      message: expect.stringMatching(/^max_run_seconds \(3\) ended the run at WAL position .*, short of /),
    });
  });

  test("batch mode reads on to stopAt however long WAL of other tables takes, whatever idleSeconds says", async () => {
    const walEnd = await session.currentLsn();
    const clock = { t: 0 };
    let count = 0;
    // The WAL moves on a little each second (other tables' transactions): nothing captured.
    const stream = (async function* (): AsyncGenerator<ReplicationMessage> {
      for (;;) {
        clock.t += 1000;
        count += 1;
        yield { type: "keepalive", walEnd: walEnd + BigInt(count) };
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    const events = await collect(
      readChanges(
        options(stream, await tables(["items"]), {
          stopAt: walEnd + 10n,
          idleSeconds: 2,
          now: () => clock.t,
        }),
      ),
    );
    expect(count).toBe(10);
    expect(events.at(-1)).toEqual({ type: "checkpoint", position: (walEnd + 10n).toString() });
  });

  test("an idle database lets the slot advance every commitEverySeconds", async () => {
    const walEnd = await session.currentLsn();
    const clock = { t: 0 };
    const { stream } = idleStream(clock, walEnd);
    const events = await collect(
      readChanges(
        options(stream, await tables(["items"]), {
          commitEverySeconds: 2,
          idleSeconds: 10,
          now: () => clock.t,
        }),
      ),
    );
    // The first keepalive due moves the position; later ones have nothing new to confirm.
    expect(events).toEqual([{ type: "checkpoint", position: walEnd.toString() }]);
  });

  test("follow mode runs until aborted, then ends with a final checkpoint", async () => {
    await session.client.query("INSERT INTO items (id) VALUES (1)");
    await session.client.query("INSERT INTO items (id) VALUES (2)");
    const changes = await session.take();
    const ends = commitEnds(changes);
    const controller = new AbortController();
    // The data, then nothing at all (not even keepalives): the abort alone must end the reader.
    const stream = (async function* (): AsyncGenerator<ReplicationMessage> {
      yield* asMessages(changes, 0n).slice(0, -1);
      await new Promise(() => undefined);
    })();
    setTimeout(() => controller.abort(), 200);
    const events = await collect(
      readChanges(
        options(stream, await tables(["items"]), {
          follow: true,
          idleSeconds: 0,
          maxRunSeconds: 0,
          signal: controller.signal,
        }),
      ),
    );
    expect(events.map((e) => (e.type === "checkpoint" ? e.position : e.type))).toEqual(["batch", ends[1]]);
  });

  test("an abort inside a transaction waits for its commit", async () => {
    await session.client.query("INSERT INTO items (id) SELECT i FROM generate_series(1, 3) i");
    await session.client.query("INSERT INTO items (id) VALUES (4)");
    const changes = await session.take();
    const ends = commitEnds(changes);
    const controller = new AbortController();
    const events = await collect(
      readChanges(
        options(iterate(asMessages(changes, await session.currentLsn())), await tables(["items"]), {
          follow: true,
          maxBatchRows: 1,
          signal: controller.signal,
        }),
      ),
      // The first batch comes out mid-transaction: stop there.
      (e) => {
        if (e.type === "batch") controller.abort();
      },
    );
    expect(
      events.map((e) => (e.type === "checkpoint" ? e.position : e.type === "batch" ? e.rows[0]!.id : e.type)),
    ).toEqual(["1", "2", "3", ends[0]]);
  });
});
