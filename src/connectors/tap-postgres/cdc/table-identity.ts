import type pg from "pg";
import type { StreamBookmark } from "../../../protocol/state.js";
import type { RelationColumn } from "./pgoutput-decoder.js";

/** A column as its table's identity records it. */
export interface IdentityColumn {
  name: string;
  /** attnum: a column dropped and added again under its name has another. */
  attnum?: number;
  typeOid: number;
  /** atttypmod; -1 when the type has none. */
  typmod: number;
  /** format_type: what a message says the column was or became. */
  type: string;
  /** attgenerated: "" none, "s" stored, "v" virtual. */
  generated: string;
  /** A default (atthasdef) or a value existing rows take without a rewrite (atthasmissing). */
  hasDefault: boolean;
}

/**
 * What a LOG_BASED stream's warehouse table was copied from, recorded in its bookmark
 * (`table_identity`) by the copy and compared with the catalog at the start of every run and at
 * every checkpoint. The WAL does not say when a table was dropped and created again, when a
 * partition was truncated, attached or detached (under `publish_via_partition_root`), nor which
 * values an added column's default gave the rows that existed: each of these shows here.
 */
export interface TableIdentity {
  /** The relation's oid: a table created again under the same name has another. */
  oid: number;
  columns: IdentityColumn[];
  /**
   * Partitioned tables: `<oid>:<relfilenode>` of every leaf partition, sorted. A TRUNCATE gives a
   * partition a new relfilenode; pgoutput does not send a partition's TRUNCATE via its root.
   */
  partitions: string[];
}

const BOOKMARK_KEY = "table_identity";

const IDENTITY_SQL = `
SELECT c.oid::int8 AS oid, n.nspname AS schema_name, c.relname AS table_name,
       coalesce((SELECT json_agg(json_build_object(
                  'name', a.attname, 'attnum', a.attnum, 'typeOid', a.atttypid::int8, 'typmod', a.atttypmod,
                  'type', format_type(a.atttypid, a.atttypmod), 'generated', a.attgenerated::text,
                  'hasDefault', a.atthasdef OR a.atthasmissing) ORDER BY a.attnum)
                 FROM pg_attribute a
                 WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '[]') AS columns,
       coalesce((WITH RECURSIVE tree(relid) AS (
                   SELECT i.inhrelid FROM pg_inherits i WHERE i.inhparent = c.oid AND c.relkind = 'p'
                   UNION ALL SELECT i.inhrelid FROM pg_inherits i JOIN tree ON i.inhparent = tree.relid)
                 SELECT array_agg(pc.oid::text || ':' || pc.relfilenode::text ORDER BY pc.oid)
                 FROM tree JOIN pg_class pc ON pc.oid = tree.relid
                 WHERE pc.relkind <> 'p'), '{}') AS partitions
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE (n.nspname, c.relname) IN (SELECT * FROM unnest($1::text[], $2::text[]))`;

/**
 * The identity of each table, by `schema\u0000table`; a table that does not exist is absent. Plain
 * catalog queries (no function that reads the catalog as of now), so that inside a copy's
 * snapshot they describe the table that copy read.
 */
export async function readTableIdentities(
  client: pg.Client,
  tables: { schemaName: string; tableName: string }[],
): Promise<Map<string, TableIdentity>> {
  const result = await client.query<{
    oid: string;
    schema_name: string;
    table_name: string;
    columns: IdentityColumn[];
    partitions: string[];
  }>(IDENTITY_SQL, [tables.map((t) => t.schemaName), tables.map((t) => t.tableName)]);
  return new Map(
    result.rows.map((row) => [
      identityKey(row.schema_name, row.table_name),
      {
        oid: Number(row.oid),
        columns: row.columns.map((c) => ({ ...c, typeOid: Number(c.typeOid) })),
        partitions: row.partitions,
      },
    ]),
  );
}

export function identityKey(schema: string, table: string): string {
  return `${schema}\u0000${table}`;
}

/** The identity a stream's bookmark recorded, when it did (bookmarks of older versions did not). */
export function recordedIdentity(bookmark: StreamBookmark | undefined): TableIdentity | undefined {
  const value = bookmark?.[BOOKMARK_KEY];
  if (typeof value !== "object" || value === null) return undefined;
  const identity = value as Partial<TableIdentity>;
  if (typeof identity.oid !== "number" || !Array.isArray(identity.columns)) return undefined;
  return { oid: identity.oid, columns: identity.columns, partitions: identity.partitions ?? [] };
}

export function withIdentity(bookmark: StreamBookmark, identity: TableIdentity | undefined): StreamBookmark {
  return identity ? { ...bookmark, [BOOKMARK_KEY]: identity } : bookmark;
}

/**
 * Why the warehouse table copied from `recorded` no longer equals what changes alone can make
 * of the table as it is `now`, or undefined when changes can carry on. A table that must be read
 * again (the rule of sluice issue 16: a value the source converted is never converted again by a
 * rule of our own):
 * - another oid: dropped and created again (or another table renamed into its place);
 * - a column whose type changed (PostgreSQL converted the stored values in its session's time
 *   zone and rounding), except a varchar made longer, which changes no value;
 * - a column that became or stopped being generated, or was dropped and added again;
 * - a column added with a default or generated: rows that existed have values the WAL never
 *   carried (a non-volatile default is only in the catalog; a volatile one rewrote the table);
 * - partitions attached, detached, or truncated (a new relfilenode).
 * A column dropped, or added without a default, is left to the change stream (the warehouse
 * keeps the dropped column; existing rows are NULL in the added one, as at the source).
 */
export function identityChange(recorded: TableIdentity, now: TableIdentity): string | undefined {
  if (recorded.oid !== now.oid) {
    return `the table was dropped and created again (or replaced by another under its name: relation oid ${recorded.oid}, now ${now.oid})`;
  }
  const before = new Map(recorded.columns.map((c) => [c.name, c]));
  for (const column of now.columns) {
    const was = before.get(column.name);
    if (was === undefined) {
      // The same column number under a name the table had not: a RENAME COLUMN. Its values are
      // in the warehouse under the old name; pgoutput only starts sending the new one.
      const renamed = recorded.columns.find(
        (c) =>
          c.attnum !== undefined && c.attnum === column.attnum && !now.columns.some((n) => n.name === c.name),
      );
      if (renamed) {
        return `column "${renamed.name}" was renamed to "${column.name}": the rows that existed have its values under the old name only`;
      }
      if (column.hasDefault || column.generated !== "") {
        return `column "${column.name}" was added with a ${column.generated !== "" ? "generation expression" : "default"}: the rows that existed have values the WAL does not carry`;
      }
      continue;
    }
    if (was.attnum !== undefined && column.attnum !== undefined && was.attnum !== column.attnum) {
      // The rows that existed lost their values (NULL now, or the new default): the WAL says neither.
      return `column "${column.name}" was dropped and added again: the rows that existed have values the WAL does not carry`;
    }
    const reason = columnChange(was, column);
    if (reason) return reason;
  }
  if (recorded.partitions.join(",") !== now.partitions.join(",")) {
    const oidsOf = (p: string[]): string => p.map((x) => x.split(":")[0]).join(",");
    return oidsOf(recorded.partitions) === oidsOf(now.partitions)
      ? "a partition was truncated or rewritten (pgoutput does not send a partition's TRUNCATE through its parent)"
      : "partitions were attached or detached (their rows are not in the WAL)";
  }
  return undefined;
}

/** A column's change that makes the table be read again (see `identityChange`), for a Relation message too. */
export function columnChange(
  was: IdentityColumn,
  now: Pick<IdentityColumn, "name" | "typeOid" | "typmod"> & Partial<IdentityColumn>,
): string | undefined {
  if (now.generated !== undefined && was.generated !== now.generated) {
    return `column "${was.name}" ${now.generated === "" ? "is no longer generated" : "became generated"}`;
  }
  if (was.typeOid === now.typeOid && was.typmod === now.typmod) return undefined;
  if (was.typeOid === now.typeOid && was.typeOid === VARCHAR_OID && widens(was.typmod, now.typmod)) {
    return undefined;
  }
  return `column "${was.name}" changed type from ${was.type}${now.type !== undefined ? ` to ${now.type}` : ""}: PostgreSQL converted its values by its own rules (time zone, rounding), which the warehouse does not repeat`;
}

/** A Relation message's column against the identity: the same change rule as the catalog's. */
export function relationColumnChange(recorded: TableIdentity, column: RelationColumn): string | undefined {
  const was = recorded.columns.find((c) => c.name === column.name);
  return was === undefined ? undefined : columnChange(was, column);
}

const VARCHAR_OID = 1043;

/** varchar(n) to varchar(m >= n) or to unbounded varchar: the same values, no rewrite. */
function widens(before: number, after: number): boolean {
  if (after === -1) return true;
  return before !== -1 && after >= before;
}
