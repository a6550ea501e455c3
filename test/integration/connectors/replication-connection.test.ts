import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ReplicationConnection } from "../../../src/connectors/tap-postgres/cdc/replication-connection.js";
import { formatLsn, parseLsn } from "../../../src/connectors/tap-postgres/cdc/replication-message.js";
import { createTestDatabase, type TestDatabase } from "../../support/pg.js";

let db: TestDatabase;
const settings = (): { host: string; port: number; user: string; password: string; dbname: string } => ({
  host: db.host,
  port: db.port,
  user: db.user,
  password: db.password,
  dbname: db.name,
});

beforeAll(async () => {
  db = await createTestDatabase("repl");
  await db.query("CREATE TABLE items (id int PRIMARY KEY, name text)");
  await db.query("INSERT INTO items VALUES (1, 'before the slot')");
  await db.query("CREATE PUBLICATION items_pub FOR TABLE items");
});

afterAll(async () => {
  await db.query(
    "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = current_database()",
  );
  await db.drop();
});

describe("ReplicationConnection", () => {
  it("creates a slot whose exported snapshot and stream meet exactly, and acknowledges only what it is told", async () => {
    const connection = await ReplicationConnection.open(settings());
    const slot = await connection.createSlot("items_slot", { temporary: false });
    expect(slot.snapshotName).toBeTruthy();

    // A write after the slot exists is not in the snapshot, and is streamed.
    await db.query("INSERT INTO items VALUES (2, 'after the slot')");
    const reader = new pg.Client({ connectionString: db.url });
    await reader.connect();
    await reader.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    await reader.query(`SET TRANSACTION SNAPSHOT '${slot.snapshotName}'`);
    const inSnapshot = (await reader.query<{ id: number }>("SELECT id FROM items ORDER BY id")).rows;
    await reader.end();
    expect(inSnapshot.map((r) => r.id)).toEqual([1]);

    const kinds: string[] = [];
    let commitEnd = 0n;
    for await (const message of connection.start({
      slotName: slot.slotName,
      startLsn: slot.consistentPoint,
      publication: "items_pub",
      protocolVersion: connection.protocolVersion,
    })) {
      if (message.type !== "data") continue;
      const kind = String.fromCharCode(message.data[0]!);
      kinds.push(kind);
      if (kind === "C") {
        commitEnd = message.data.readBigUInt64BE(10);
        break;
      }
    }
    expect(kinds).toEqual(["B", "R", "I", "C"]);
    const confirmed = async (): Promise<bigint> => {
      const rows = await db.query<{ lsn: string }>(
        "SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = 'items_slot'",
      );
      return parseLsn(rows[0]!.lsn);
    };
    expect(await confirmed()).toBe(slot.consistentPoint);
    connection.acknowledge(commitEnd);
    await connection.close();
    expect(formatLsn(await confirmed())).toBe(formatLsn(commitEnd));
  });

  it("says what to do when the role may not replicate", async () => {
    await db.query("DROP ROLE IF EXISTS no_repl; CREATE ROLE no_repl LOGIN PASSWORD 'pw'");
    await expect(
      ReplicationConnection.open({ ...settings(), user: "no_repl", password: "pw" }),
    ).rejects.toThrow(/REPLICATION/);
  });
});
