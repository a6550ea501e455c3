import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  decodePgOutput,
  pgTimestampDate,
  pgTimestampText,
  UNCHANGED_TOAST,
  type PgOutput,
} from "../../../src/connectors/tap-postgres/cdc/pgoutput-decoder.js";
import { createTestDatabase, type TestDatabase } from "../../support/pg.js";
import { openSlotSession, type SlotSession } from "./pgoutput-support.js";

/**
 * The decoder against what a real PostgreSQL writes: every message kind a slot sends for the
 * changes sluice replicates, in each protocol version the server speaks.
 */
let db: TestDatabase;
let session: SlotSession;

beforeAll(async () => {
  db = await createTestDatabase("pgoutput_decoder");
  await db.query(`
    CREATE TYPE mood AS ENUM ('happy', 'sad');
    CREATE TABLE items (id integer, tenant text, body text, feeling mood, PRIMARY KEY (tenant, id));
    ALTER TABLE items ALTER COLUMN body SET STORAGE EXTERNAL;
    CREATE TABLE full_rows (id integer PRIMARY KEY, note text);
    ALTER TABLE full_rows REPLICA IDENTITY FULL;
  `);
  session = await openSlotSession(db, "items, full_rows");
});

afterAll(async () => {
  await session?.close();
  await db?.drop();
});

function decodeAll(changes: { data: Buffer }[]): PgOutput[] {
  return changes.map((c) => decodePgOutput(c.data));
}

describe("pgoutput messages from a real slot", () => {
  test.each([1, 2, 3, 4])(
    "protocol version %i: begin, relation, type, insert, update, delete, commit",
    async (version) => {
      const c = session.client;
      const big = "x".repeat(5000);
      await c.query("DELETE FROM items");
      await session.take();
      await c.query("BEGIN");
      const { rows } = await c.query<{ xid: string; now: string }>(
        "SELECT txid_current()::text AS xid, (extract(epoch from now()) * 1000000)::bigint::text AS now",
      );
      await c.query(`INSERT INTO items VALUES (1, 'a', '${big}', 'happy'), (2, 'a', NULL, NULL)`);
      await c.query(`UPDATE items SET feeling = 'sad' WHERE id = 1`); // body unchanged: TOASTed, left out
      await c.query(`UPDATE items SET id = 3 WHERE id = 2`); // the key changed: the old key comes along
      await c.query(`DELETE FROM items WHERE id = 3`);
      await c.query("COMMIT");
      const messages = decodeAll(await session.take({ protoVersion: version }));
      const types = messages.map((m) => m.type);
      expect(types).toEqual(
        expect.arrayContaining(["begin", "relation", "insert", "update", "delete", "commit"]),
      );
      expect(types[0]).toBe("begin");
      expect(types.at(-1)).toBe("commit");

      const begin = messages[0] as Extract<PgOutput, { type: "begin" }>;
      const commit = messages.at(-1) as Extract<PgOutput, { type: "commit" }>;
      expect(begin.xid).toBe(Number(rows[0]!.xid));
      expect(begin.finalLsn).toBe(commit.commitLsn);
      expect(commit.endLsn).toBeGreaterThan(commit.commitLsn);
      expect(commit.commitTime).toBe(begin.commitTime);
      // The commit time is shortly after the transaction's start.
      const startMicros = BigInt(rows[0]!.now) - 946_684_800_000_000n;
      expect(begin.commitTime).toBeGreaterThanOrEqual(startMicros);
      expect(begin.commitTime - startMicros).toBeLessThan(60_000_000n);

      // The enum's type comes first (only types of extensions and users are described), then the relation.
      const type = messages.find((m) => m.type === "type");
      expect(type).toMatchObject({ type: "type", namespace: "public", name: "mood" });
      const relation = messages.find((m) => m.type === "relation");
      expect(relation).toEqual({
        type: "relation",
        relationId: expect.any(Number),
        namespace: "public",
        name: "items",
        replicaIdentity: "d",
        columns: [
          { key: true, name: "id", typeOid: 23, typmod: -1 },
          { key: true, name: "tenant", typeOid: 25, typmod: -1 },
          { key: false, name: "body", typeOid: 25, typmod: -1 },
          { key: false, name: "feeling", typeOid: type?.type === "type" ? type.typeOid : -1, typmod: -1 },
        ],
      });
      const relationId = relation?.type === "relation" ? relation.relationId : -1;

      const changes = messages.filter((m) => ["insert", "update", "delete"].includes(m.type));
      expect(changes).toEqual([
        { type: "insert", relationId, newTuple: ["1", "a", big, "happy"] },
        { type: "insert", relationId, newTuple: ["2", "a", null, null] },
        // NOTE: the unchanged TOASTed body is 'u', not null: a loader must keep what it has.
        { type: "update", relationId, newTuple: ["1", "a", UNCHANGED_TOAST, "sad"] },
        {
          type: "update",
          relationId,
          oldKind: "K",
          oldTuple: ["2", "a", null, null],
          newTuple: ["3", "a", null, null],
        },
        { type: "delete", relationId, oldKind: "K", oldTuple: ["3", "a", null, null] },
      ]);
    },
  );

  test("REPLICA IDENTITY FULL sends the whole old row ('O') with updates and deletes", async () => {
    const c = session.client;
    await c.query("INSERT INTO full_rows VALUES (1, 'before')");
    await c.query("UPDATE full_rows SET note = 'after'");
    await c.query("DELETE FROM full_rows");
    const changes = decodeAll(await session.take({ protoVersion: 2 })).filter((m) =>
      ["relation", "update", "delete"].includes(m.type),
    );
    expect(changes[0]).toMatchObject({ type: "relation", name: "full_rows", replicaIdentity: "f" });
    expect(changes.slice(1)).toMatchObject([
      { type: "update", oldKind: "O", oldTuple: ["1", "before"], newTuple: ["1", "after"] },
      { type: "delete", oldKind: "O", oldTuple: ["1", "after"] },
    ]);
  });

  test("truncate names its relations and options", async () => {
    const c = session.client;
    await c.query("INSERT INTO items VALUES (10, 'a', 'x', NULL)");
    await c.query("TRUNCATE items, full_rows RESTART IDENTITY");
    await c.query("TRUNCATE full_rows CASCADE");
    const messages = decodeAll(await session.take({ protoVersion: 4 }));
    const relations = new Map(
      messages.flatMap((m) => (m.type === "relation" ? [[m.name, m.relationId] as const] : [])),
    );
    const truncates = messages.filter((m) => m.type === "truncate");
    expect(truncates).toEqual([
      {
        type: "truncate",
        cascade: false,
        restartIdentity: true,
        relationIds: expect.arrayContaining([relations.get("items"), relations.get("full_rows")]),
      },
      { type: "truncate", cascade: true, restartIdentity: false, relationIds: [relations.get("full_rows")] },
    ]);
    expect((truncates[0] as { relationIds: number[] }).relationIds).toHaveLength(2);
  });

  test("logical decoding messages and origins", async () => {
    const c = session.client;
    await c.query("SELECT pg_replication_origin_create('sluice_test_origin')");
    try {
      await c.query("SELECT pg_replication_origin_session_setup('sluice_test_origin')");
      await c.query("BEGIN");
      await c.query("SELECT pg_replication_origin_xact_setup('0/12345678', now())");
      await c.query("INSERT INTO full_rows VALUES (7, 'from elsewhere')");
      await c.query("SELECT pg_logical_emit_message(true, 'sluice', 'transactional ü')");
      await c.query("COMMIT");
      await c.query("SELECT pg_replication_origin_session_reset()");
      await c.query("SELECT pg_logical_emit_message(false, 'other', '\\x00ff'::bytea, true)");
      const messages = decodeAll(await session.take({ protoVersion: 2, messages: true }));
      expect(messages.find((m) => m.type === "origin")).toEqual({
        type: "origin",
        originLsn: 0x12345678n,
        name: "sluice_test_origin",
      });
      const emitted = messages.filter((m) => m.type === "message");
      expect(emitted).toEqual([
        {
          type: "message",
          transactional: true,
          lsn: expect.any(BigInt),
          prefix: "sluice",
          content: Buffer.from("transactional ü"),
        },
        {
          type: "message",
          transactional: false,
          lsn: expect.any(BigInt),
          prefix: "other",
          content: Buffer.from([0, 255]),
        },
      ]);
    } finally {
      await c.query("SELECT pg_replication_origin_session_reset()").catch(() => undefined);
      await c.query("SELECT pg_replication_origin_drop('sluice_test_origin')");
    }
  });
});

describe("commit timestamps", () => {
  test("print exactly as PostgreSQL prints the timestamptz, to the microsecond", async () => {
    const micros = [
      0n,
      1n,
      -1n,
      500_000n,
      123_456n,
      86_399_999_999n,
      -86_400_000_000n,
      // 2024-02-29 12:34:56.000789 and a date in the far future
      762_525_296_000_789n,
      8_000_000_000_000_000n,
      // around year 1 and before it
      -63_082_281_600_000_000n,
      -63_082_281_600_000_001n,
      -64_000_000_000_000_000n,
    ];
    // On the session with TimeZone UTC and DateStyle ISO, as the replication connection has.
    const { rows } = await session.client.query<{ t: string }>(
      // Whole days and the rest apart: an interval times a bigint goes through a double.
      `SELECT (timestamptz '2000-01-01 00:00:00+00' + (m / 86400000000) * interval '1 day'
               + (m % 86400000000) * interval '1 microsecond')::text AS t
       FROM unnest($1::bigint[]) WITH ORDINALITY AS u(m, o) ORDER BY o`,
      [micros.map(String)],
    );
    expect(micros.map(pgTimestampText)).toEqual(rows.map((r) => r.t));
  });

  test("as a Date, to the millisecond", () => {
    expect(pgTimestampDate(762_525_296_000_789n).toISOString()).toBe("2024-02-29T12:34:56.000Z");
  });
});
