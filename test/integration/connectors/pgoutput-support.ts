import pg from "pg";
import { EXTRACT_SESSION_SETTINGS } from "../../../src/connectors/tap-postgres/postgres-connection.js";
import { parseLsn } from "../../../src/connectors/tap-postgres/cdc/replication-message.js";
import type { TestDatabase } from "../../support/pg.js";

/** One change a logical slot returned: where it is in the WAL, and the pgoutput message. */
export interface SlotChange {
  lsn: bigint;
  data: Buffer;
}

/**
 * A logical slot and a publication in a test database, read through the SQL interface on a
 * connection with the settings the replication connection uses (EXTRACT_SESSION_SETTINGS and
 * lc_monetary C): output functions run in the session that reads the slot.
 */
export interface SlotSession {
  client: pg.Client;
  slot: string;
  publication: string;
  /** Consumes the slot's changes so far (`pg_logical_slot_get_binary_changes`). */
  take(options?: { protoVersion?: number; messages?: boolean }): Promise<SlotChange[]>;
  /** The server's current end of WAL. */
  currentLsn(): Promise<bigint>;
  close(): Promise<void>;
}

export async function openSlotSession(db: TestDatabase, publicationTables: string): Promise<SlotSession> {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  await client.query(EXTRACT_SESSION_SETTINGS);
  await client.query("SET lc_monetary = 'C'");
  const slot = `s_${db.name}`.slice(0, 63);
  const publication = `p_${db.name}`;
  await client.query(`CREATE PUBLICATION ${publication} FOR TABLE ${publicationTables}`);
  await client.query(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [slot]);
  return {
    client,
    slot,
    publication,
    take: async ({ protoVersion = 1, messages = false } = {}) => {
      const result = await client.query<{ lsn: string; data: Buffer }>(
        `SELECT lsn::text AS lsn, data FROM pg_logical_slot_get_binary_changes($1, NULL, NULL,
           'proto_version', $2, 'publication_names', $3, 'messages', $4)`,
        [slot, String(protoVersion), publication, String(messages)],
      );
      return result.rows.map((r) => ({ lsn: parseLsn(r.lsn), data: r.data }));
    },
    currentLsn: async () =>
      parseLsn(
        (await client.query<{ lsn: string }>("SELECT pg_current_wal_lsn()::text AS lsn")).rows[0]!.lsn,
      ),
    close: async () => {
      await client.query(`SELECT pg_drop_replication_slot($1)`, [slot]).catch(() => undefined);
      await client.query(`DROP PUBLICATION IF EXISTS ${publication}`).catch(() => undefined);
      await client.end();
    },
  };
}
