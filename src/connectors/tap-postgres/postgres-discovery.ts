import type pg from "pg";
import type { Catalog, CatalogStream, MetadataEntry } from "../../protocol/catalog.js";
import type { Column } from "../column-type.js";
import { quoteIdent } from "./postgres-connection.js";
import { jsonSchemaOf } from "../singer/json-schema-of.js";
import { canBeReplicationKey, columnTypeOf, type PgTypeInfo } from "./postgres-types.js";

/** A discovered table or view, with what the extractor needs beyond the Singer catalog. */
export interface DiscoveredTable {
  streamId: string;
  schemaName: string;
  tableName: string;
  kind: "table" | "view" | "materialized view" | "partitioned table";
  rowCount: number;
  keyProperties: string[];
  columns: (Column & { pg: PgTypeInfo })[];
  /** `relreplident`: d default (the key), n nothing, f full (the whole old row), i an index. */
  replicaIdentity?: string;
  /** Generated columns: logical replication does not send their values (PostgreSQL before 18). */
  generatedColumns?: string[];
}

const RELKINDS: Record<string, DiscoveredTable["kind"]> = {
  r: "table",
  p: "partitioned table",
  v: "view",
  m: "materialized view",
};

// Domains are resolved to their base type (and array elements to theirs) so that a column's
// kind follows what it stores. Partitions are left out: their parent carries their rows.
const COLUMNS_SQL = `
SELECT n.nspname AS schema_name, c.relname AS table_name, c.relkind::text AS relkind,
       greatest(c.reltuples, 0)::bigint AS row_count, c.relreplident::text AS replica_identity,
       a.attgenerated::text AS generated, a.attname AS column_name, a.attnotnull AS not_null, a.attndims AS dimensions,
       format_type(a.atttypid, a.atttypmod) AS formatted,
       CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END AS typmod,
       bt.typname AS typname, bt.typtype::text AS typtype, bt.typcategory::text AS typcategory,
       et.typname AS element_typname, et.typtype::text AS element_typtype
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_type t ON t.oid = a.atttypid
JOIN pg_type bt ON bt.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
LEFT JOIN pg_type et0 ON bt.typcategory = 'A' AND et0.oid = bt.typelem
LEFT JOIN pg_type et ON et.oid = CASE WHEN et0.typtype = 'd' THEN et0.typbasetype ELSE et0.oid END
WHERE c.relkind IN ('r', 'p', 'v', 'm') AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
  AND has_table_privilege(c.oid, 'SELECT')
  AND ($1::text[] IS NULL OR n.nspname = ANY($1::text[]))
ORDER BY n.nspname, c.relname, a.attnum`;

const KEYS_SQL = `
SELECT n.nspname AS schema_name, c.relname AS table_name, a.attname AS column_name
FROM pg_index i
JOIN pg_class c ON c.oid = i.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey::int2[])
WHERE i.indisprimary AND ($1::text[] IS NULL OR n.nspname = ANY($1::text[]))
ORDER BY n.nspname, c.relname, array_position(i.indkey::int2[], a.attnum)`;

interface ColumnRow {
  schema_name: string;
  table_name: string;
  relkind: string;
  row_count: string;
  replica_identity: string;
  generated: string;
  column_name: string;
  not_null: boolean;
  dimensions: number;
  formatted: string;
  typmod: number;
  typname: string;
  typtype: string;
  typcategory: string;
  element_typname: string | null;
  element_typtype: string | null;
}

export async function discoverTables(
  client: pg.Client,
  filterSchemas: string[] | undefined,
): Promise<DiscoveredTable[]> {
  const schemas = filterSchemas && filterSchemas.length > 0 ? filterSchemas : null;
  const [columns, keys] = await Promise.all([
    client.query<ColumnRow>(COLUMNS_SQL, [schemas]),
    client.query<{ schema_name: string; table_name: string; column_name: string }>(KEYS_SQL, [schemas]),
  ]);
  // Keyed by schema and table apart: `a-b`.`c` and `a`.`b-c` are two tables with one `<schema>-<table>`.
  const tables = new Map<string, DiscoveredTable>();
  for (const row of columns.rows) {
    const relation = relationKey(row.schema_name, row.table_name);
    let table = tables.get(relation);
    if (!table) {
      table = {
        streamId: `${row.schema_name}-${row.table_name}`,
        schemaName: row.schema_name,
        tableName: row.table_name,
        kind: RELKINDS[row.relkind] ?? "table",
        rowCount: Number(row.row_count),
        keyProperties: [],
        columns: [],
        replicaIdentity: row.replica_identity,
        generatedColumns: [],
      };
      tables.set(relation, table);
    }
    if (row.generated !== "") table.generatedColumns?.push(row.column_name);
    const info: PgTypeInfo = {
      formatted: row.formatted,
      typname: row.typname,
      typtype: row.typtype,
      typcategory: row.typcategory,
      typmod: row.typmod,
      dimensions: row.dimensions,
      ...(row.element_typname !== null
        ? { elementTypname: row.element_typname, elementTyptype: row.element_typtype ?? "b" }
        : {}),
    };
    table.columns.push({
      name: row.column_name,
      type: columnTypeOf(info),
      nullable: !row.not_null,
      pg: info,
    });
  }
  for (const key of keys.rows) {
    tables.get(relationKey(key.schema_name, key.table_name))?.keyProperties.push(key.column_name);
  }
  const discovered = [...tables.values()];
  assignDistinctStreamIds(discovered);
  return discovered;
}

function relationKey(schema: string, table: string): string {
  return `${schema}\u0000${table}`;
}

/**
 * Singer's `<schema>-<table>` is ambiguous when names hold `-`: `a-b`.`c` and `a`.`b-c` are both
 * `a-b-c`. Tables whose ids would clash get `"<schema>"-"<table>"` instead (identifiers quoted as
 * in SQL, which cannot clash), so each stays a stream of its own instead of the two merging;
 * every other table keeps the id pipelinewise-tap-postgres gives it.
 */
function assignDistinctStreamIds(tables: DiscoveredTable[]): void {
  for (;;) {
    const byId = new Map<string, DiscoveredTable[]>();
    for (const table of tables) byId.set(table.streamId, [...(byId.get(table.streamId) ?? []), table]);
    const clashing = [...byId.values()].filter((group) => group.length > 1).flat();
    if (clashing.length === 0) return;
    for (const table of clashing)
      table.streamId = `${quoteIdent(table.schemaName)}-${quoteIdent(table.tableName)}`;
  }
}

/** The Singer catalog entry of a table, with pipelinewise-tap-postgres's metadata. */
export function catalogStreamOf(table: DiscoveredTable, databaseName: string): CatalogStream {
  const properties = Object.fromEntries(
    table.columns.map((c) => [
      c.name,
      jsonSchemaOf(c.type, c.nullable && !table.keyProperties.includes(c.name)),
    ]),
  );
  const isView = table.kind === "view" || table.kind === "materialized view";
  const metadata: MetadataEntry[] = [
    {
      breadcrumb: [],
      metadata: {
        "table-key-properties": table.keyProperties,
        "schema-name": table.schemaName,
        "database-name": databaseName,
        "row-count": table.rowCount,
        "is-view": isView,
        "selected-by-default": false,
        "valid-replication-keys": table.columns.filter((c) => canBeReplicationKey(c.type)).map((c) => c.name),
      },
    },
    ...table.columns.map((c): MetadataEntry => ({
      breadcrumb: ["properties", c.name],
      metadata: {
        "sql-datatype": c.pg.formatted,
        inclusion: table.keyProperties.includes(c.name) ? "automatic" : "available",
        "selected-by-default": true,
      },
    })),
  ];
  return {
    tap_stream_id: table.streamId,
    stream: table.tableName,
    table_name: table.tableName,
    schema: { type: "object", properties },
    key_properties: table.keyProperties,
    metadata,
  };
}

export function catalogOf(tables: DiscoveredTable[], databaseName: string): Catalog {
  return { streams: tables.map((t) => catalogStreamOf(t, databaseName)) };
}
