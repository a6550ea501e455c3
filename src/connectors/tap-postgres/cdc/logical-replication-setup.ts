import type pg from "pg";
import { ConfigError, ConnectionError } from "../../../errors.js";
import { classifyPostgresError, postgresError } from "../postgres-errors.js";
import { quoteIdent, quoteLiteral, readPrivilegeProblems } from "../postgres-connection.js";
import { parseLsn } from "./replication-message.js";
import { publicationNameFor, type SlotNameSettings } from "./replication-slot-name.js";

/** The settings of tap-postgres that name and tune change data capture. */
export interface LogicalReplicationSettings extends SlotNameSettings {
  logical_publication?: string;
}

/** A table as change data capture needs it: its name and whether changes can say which row. */
export interface LogicalTable {
  schemaName: string;
  tableName: string;
}

function qualified(table: LogicalTable): string {
  return `${quoteIdent(table.schemaName)}.${quoteIdent(table.tableName)}`;
}

/** `server_version_num`: 180000 for PostgreSQL 18.0. */
export async function serverVersionNum(client: pg.Client): Promise<number> {
  const result = await client.query<{ v: string }>("SELECT current_setting('server_version_num') AS v");
  return Number(result.rows[0]?.v ?? 0);
}

/** Whether `publication` publishes stored generated columns (PostgreSQL 18's `pubgencols = 's'`). */
export async function publishesStoredGenerated(client: pg.Client, publication: string): Promise<boolean> {
  if ((await serverVersionNum(client)) < 180_000) return false;
  const result = await client.query<{ gencols: string }>(
    "SELECT pubgencols::text AS gencols FROM pg_publication WHERE pubname = $1",
    [publication],
  );
  return result.rows[0]?.gencols === "s";
}

/**
 * Makes the publication cover the LOG_BASED tables (a managed one grows to include them and is
 * never narrowed), or checks that the user's own covers them all. Changes of a table added now are published from this commit on;
 * its initial copy is taken after it, so nothing falls between.
 */
export async function preparePublication(
  client: pg.Client,
  settings: LogicalReplicationSettings,
  slotName: string,
  tables: LogicalTable[],
): Promise<string> {
  const { name, managed } = publicationNameFor(settings, slotName);
  const exists =
    (await client.query("SELECT 1 FROM pg_publication WHERE pubname = $1", [name])).rowCount === 1;
  if (!managed) {
    if (!exists) {
      throw new ConfigError(
        `logical_publication: publication "${name}" does not exist in database "${settings.dbname}"; create it (CREATE PUBLICATION ${quoteIdent(name)} FOR TABLE ...) or remove the setting to let sluice manage one`,
      );
    }
    const published = await client.query<{ schemaname: string; tablename: string }>(
      "SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = $1",
      [name],
    );
    const have = new Set(published.rows.map((r) => `${r.schemaname}.${r.tablename}`));
    const missing = tables.filter((t) => !have.has(`${t.schemaName}.${t.tableName}`));
    if (missing.length > 0) {
      throw new ConfigError(
        `logical_publication: publication "${name}" does not include ${missing.map((t) => `${t.schemaName}.${t.tableName}`).join(", ")}; add them (ALTER PUBLICATION ${quoteIdent(name)} ADD TABLE ...)`,
      );
    }
    return name;
  }
  const list = tables.map(qualified).join(", ");
  // Partitioned tables: changes are published under the parent's name, the stream's. Stored
  // generated columns: PostgreSQL 18 publishes them on request; the WAL of older ones lacks them.
  const options = `publish_via_partition_root = true${(await serverVersionNum(client)) >= 180_000 ? ", publish_generated_columns = stored" : ""}`;
  try {
    if (!exists) {
      await client.query(`CREATE PUBLICATION ${quoteIdent(name)} FOR TABLE ${list} WITH (${options})`);
    } else {
      // NOTE: only ever added to, never narrowed to this run's tables: pgoutput publishes a change
      // by the publication as it was when the change was written, so a table left out while a
      // `--select` run reads the slot would lose those changes for good, even once added back.
      // Changes of tables no run selects any more are read and skipped.
      const published = await client.query<{ schemaname: string; tablename: string }>(
        "SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = $1",
        [name],
      );
      const have = new Set(published.rows.map((r) => `${r.schemaname}.${r.tablename}`));
      const missing = tables.filter((t) => !have.has(`${t.schemaName}.${t.tableName}`));
      if (missing.length > 0) {
        await client.query(
          `ALTER PUBLICATION ${quoteIdent(name)} ADD TABLE ${missing.map(qualified).join(", ")}`,
        );
      }
      await client.query(`ALTER PUBLICATION ${quoteIdent(name)} SET (${options})`);
    }
  } catch (error) {
    const failure = classifyPostgresError(error);
    // A server going away meanwhile is not a missing privilege.
    if (failure.transient)
      throw postgresError(error, `${exists ? "updating" : "creating"} publication "${name}"`);
    throw new ConnectionError(
      `could not ${exists ? "update" : "create"} publication "${name}" for LOG_BASED tables (${failure.message}). The user needs CREATE on the database and must own the tables; or create a publication yourself and name it in \`logical_publication\``,
      { cause: error, server: failure.server },
    );
  }
  return name;
}

export interface SlotStatus {
  plugin: string;
  /** Another process is streaming from it. */
  active: boolean;
  /** The server removed WAL the slot still needed (`wal_status = 'lost'`): changes were lost. */
  lost: boolean;
  confirmedFlush: bigint | undefined;
  /** WAL the server keeps for this slot, in bytes. */
  retainedBytes: number;
}

export async function slotStatus(client: pg.Client, slotName: string): Promise<SlotStatus | undefined> {
  return (await readSlots(client, "slot_name = $1", [slotName])).get(slotName);
}

/**
 * The slots of this database that may be sluice's: every `sluice_*` (a pipeline's own),
 * every `pipelinewise_*` (the name pipelinewise and sluice before per-pipeline slots used) and
 * those in `names` (a configured `logical_slot_name`, slots states recorded). By name.
 */
export async function changeCaptureSlots(
  client: pg.Client,
  names: string[],
): Promise<Map<string, SlotStatus>> {
  return readSlots(
    client,
    "(slot_name LIKE 'sluice\\_%' OR slot_name LIKE 'pipelinewise\\_%' OR slot_name = ANY($1::text[]))",
    [names],
  );
}

async function readSlots(
  client: pg.Client,
  where: string,
  params: unknown[],
): Promise<Map<string, SlotStatus>> {
  const result = await client.query<{
    slot_name: string;
    plugin: string;
    active: boolean;
    wal_status: string | null;
    confirmed_flush_lsn: string | null;
    retained: string | null;
  }>(
    `SELECT slot_name, plugin, active, wal_status, confirmed_flush_lsn::text,
            pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint::text AS retained
     FROM pg_replication_slots WHERE ${where} AND database = current_database() ORDER BY slot_name`,
    params,
  );
  return new Map(
    result.rows.map((row) => [
      row.slot_name,
      {
        plugin: row.plugin,
        active: row.active,
        lost: row.wal_status === "lost",
        confirmedFlush: row.confirmed_flush_lsn ? parseLsn(row.confirmed_flush_lsn) : undefined,
        retainedBytes: Number(row.retained ?? 0),
      },
    ]),
  );
}

export async function currentWalLsn(client: pg.Client): Promise<bigint> {
  const row = (await client.query<{ lsn: string }>("SELECT pg_current_wal_lsn()::text AS lsn")).rows[0];
  return parseLsn(row!.lsn);
}

export async function dropSlot(client: pg.Client, slotName: string): Promise<boolean> {
  const result = await client.query(
    "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND database = current_database()",
    [slotName],
  );
  return (result.rowCount ?? 0) > 0;
}

/**
 * Removes what LOG_BASED set up in the source for one pipeline: its slot (so the server stops
 * keeping WAL for it) and the publication sluice manages for that slot (never a user's own).
 * Other pipelines' slots are left alone. Returns what it removed.
 */
export async function teardownLogicalReplication(
  client: pg.Client,
  settings: LogicalReplicationSettings,
  slotName: string,
): Promise<string[]> {
  const removed: string[] = [];
  const status = await slotStatus(client, slotName);
  if (status?.active) {
    throw new ConnectionError(
      `replication slot "${slotName}" is in use by a running process; stop that run first (or wait for it to end)`,
    );
  }
  // The extractor's connections default to read-only transactions; removing what CDC set up is
  // a deliberate write, so it asks for one.
  await client.query("BEGIN READ WRITE");
  try {
    if (await dropSlot(client, slotName)) removed.push(`replication slot "${slotName}"`);
    const publication = publicationNameFor(settings, slotName);
    if (publication.managed) {
      const found = await client.query("SELECT 1 FROM pg_publication WHERE pubname = $1", [publication.name]);
      if (found.rowCount === 1) {
        await client.query(`DROP PUBLICATION ${quoteIdent(publication.name)}`);
        removed.push(`publication "${publication.name}"`);
      }
    }
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw error;
  }
  return removed;
}

/**
 * What LOG_BASED needs from the server and the user, each missing piece as a sentence that says
 * how to fix it. Empty when all is in place. `checkExistingSlot: false` (default true): whether
 * `slotName` is the slot a run will read, so that one of another plugin there is a problem;
 * otherwise only a free slot for a new one is checked.
 */
export async function checkLogicalReplication(
  client: pg.Client,
  settings: LogicalReplicationSettings & { user: string },
  tables: LogicalTable[],
  slotName: string,
  options: { checkExistingSlot?: boolean } = {},
): Promise<string[]> {
  const problems: string[] = [];
  const walLevel = (await client.query<{ wal_level: string }>("SHOW wal_level")).rows[0]?.wal_level;
  if (walLevel !== "logical") {
    problems.push(
      `wal_level is "${walLevel}", LOG_BASED needs "logical": set wal_level = logical in postgresql.conf (on RDS/Cloud SQL: rds.logical_replication = 1 / cloudsql.logical_decoding = on) and restart the server`,
    );
  }
  const role = (
    await client.query<{ rolreplication: boolean; rolsuper: boolean }>(
      "SELECT rolreplication, rolsuper FROM pg_roles WHERE rolname = current_user",
    )
  ).rows[0];
  if (!role?.rolreplication && !role?.rolsuper) {
    problems.push(
      `user "${settings.user}" has no REPLICATION privilege: ALTER ROLE ${quoteIdent(settings.user)} REPLICATION (on RDS: GRANT rds_replication TO ${quoteIdent(settings.user)})`,
    );
  }
  const slot = options.checkExistingSlot === false ? undefined : await slotStatus(client, slotName);
  if (slot && slot.plugin !== "pgoutput") {
    problems.push(
      `replication slot "${slotName}" exists but uses the ${slot.plugin} plugin; sluice needs pgoutput: drop it (sluice cdc teardown <extractor> <loader>) or set logical_slot_name to another name`,
    );
  }
  if (!slot) {
    const slots = (
      await client.query<{ used: string; max: string }>(
        "SELECT (SELECT count(*) FROM pg_replication_slots)::text AS used, current_setting('max_replication_slots') AS max",
      )
    ).rows[0];
    if (slots && Number(slots.used) >= Number(slots.max)) {
      problems.push(
        `no free replication slot: ${slots.used} of max_replication_slots = ${slots.max} are in use; raise max_replication_slots (restart needed) or drop an unused slot`,
      );
    }
  }
  problems.push(...(await readPrivilegeProblems(client, settings.user, tables)));
  problems.push(...(await publicationPrivilegeProblems(client, settings, slotName, tables)));
  if (tables.length > 0) {
    const identities = await client.query<{ schema_name: string; table_name: string; ok: boolean }>(
      `SELECT n.nspname AS schema_name, c.relname AS table_name,
              (c.relreplident = 'f' OR (c.relreplident = 'i' AND EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisreplident))
               OR (c.relreplident = 'd' AND EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary))) AS ok
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE (n.nspname, c.relname) IN (${tables.map((t) => `(${quoteLiteral(t.schemaName)}, ${quoteLiteral(t.tableName)})`).join(", ")})`,
    );
    for (const row of identities.rows) {
      if (!row.ok) {
        problems.push(
          `${row.schema_name}.${row.table_name} has no primary key or replica identity, so its updates and deletes cannot name their row: add a primary key, or ALTER TABLE ${quoteIdent(row.schema_name)}.${quoteIdent(row.table_name)} REPLICA IDENTITY FULL`,
        );
      }
    }
  }
  return problems;
}

/**
 * A managed publication is created (or altered) by the run itself, which PostgreSQL allows only
 * to a user with CREATE on the database who owns every table in it. Without those, an admin
 * creates the publication and `logical_publication` names it.
 */
async function publicationPrivilegeProblems(
  client: pg.Client,
  settings: LogicalReplicationSettings & { user: string },
  slotName: string,
  tables: LogicalTable[],
): Promise<string[]> {
  const { name, managed } = publicationNameFor(settings, slotName);
  if (!managed || tables.length === 0) return [];
  const result = await client.query<{ can_create: boolean; not_owned: string[] | null }>(
    `SELECT has_database_privilege(current_database(), 'CREATE') AS can_create,
            (SELECT array_agg(n.nspname || '.' || c.relname ORDER BY 1)
             FROM unnest($1::text[], $2::text[]) AS t(schema_name, table_name)
             JOIN pg_namespace n ON n.nspname = t.schema_name
             JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = t.table_name
             WHERE NOT pg_has_role(c.relowner, 'USAGE')) AS not_owned`,
    [tables.map((t) => t.schemaName), tables.map((t) => t.tableName)],
  );
  const row = result.rows[0];
  const notOwned = row?.not_owned ?? [];
  if (row?.can_create && notOwned.length === 0) return [];
  const lacking = [
    ...(row?.can_create ? [] : [`CREATE on database ${settings.dbname}`]),
    ...(notOwned.length > 0 ? [`ownership of ${notOwned.join(", ")}`] : []),
  ];
  return [
    `sluice manages publication "${name}" for LOG_BASED tables, which needs ${lacking.join(" and ")} for user "${settings.user}"; instead, an admin can run CREATE PUBLICATION ${quoteIdent(name)} FOR TABLE ${tables.map(qualified).join(", ")} WITH (publish_via_partition_root = true); and set logical_publication: ${name}`,
  ];
}
