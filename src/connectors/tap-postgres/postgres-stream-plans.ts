import { ConfigError } from "../../errors.js";
import { propertyMetadata, streamMetadata, type Catalog } from "../../protocol/catalog.js";
import { DELETED_AT_COLUMN, SEQUENCE_COLUMN, UNCHANGED_COLUMN } from "../batch.js";
import type { Column } from "../column-type.js";
import type { ReplicationMethod, StreamPlan } from "../connector.js";
import type { DiscoveredTable } from "./postgres-discovery.js";
import { canBeReplicationKey } from "./postgres-types.js";

/** A plan with what tap-postgres needs to build its queries. */
export interface PostgresStreamPlan extends StreamPlan {
  table: DiscoveredTable;
}

/**
 * The selected streams of `catalog` as plans: replication method and key checked against the
 * table (LOG_BASED needs a table with a primary key, INCREMENTAL a key that orders rows), the
 * selected columns (keys and the replication key always), every problem at once.
 */
export function planStreams(
  catalog: Catalog,
  tables: ReadonlyMap<string, DiscoveredTable>,
  config: { dbname: string; default_replication_method: ReplicationMethod },
): PostgresStreamPlan[] {
  const plans: PostgresStreamPlan[] = [];
  const problems: string[] = [];
  for (const stream of catalog.streams) {
    const meta = streamMetadata(stream);
    if (meta.selected !== true) continue;
    const table = tables.get(stream.tap_stream_id);
    if (!table) {
      problems.push(`${stream.tap_stream_id}: no such table or view in database "${config.dbname}"`);
      continue;
    }
    const method = String(meta["replication-method"] ?? config.default_replication_method).toUpperCase();
    if (method !== "FULL_TABLE" && method !== "INCREMENTAL" && method !== "LOG_BASED") {
      problems.push(
        `metadata.${stream.tap_stream_id}.replication-method: "${method}" is not one of FULL_TABLE, INCREMENTAL, LOG_BASED`,
      );
      continue;
    }
    const key = keyPropertiesOf(stream.tap_stream_id, table, meta["view-key-properties"]);
    if ("problem" in key) {
      problems.push(key.problem);
      continue;
    }
    const keyProperties = key.keys;
    const replicationKey =
      meta["replication-key"] === undefined ? undefined : String(meta["replication-key"]);
    if (method === "LOG_BASED") {
      if (table.kind !== "table" && table.kind !== "partitioned table") {
        problems.push(
          `metadata.${stream.tap_stream_id}.replication-method: LOG_BASED reads the WAL of tables; ${table.schemaName}.${table.tableName} is a ${table.kind} (use FULL_TABLE or INCREMENTAL)`,
        );
        continue;
      }
      if (table.keyProperties.length === 0) {
        problems.push(
          `metadata.${stream.tap_stream_id}.replication-method: LOG_BASED needs a primary key to apply updates and deletes, and ${table.schemaName}.${table.tableName} has none (add one, or use FULL_TABLE)`,
        );
        continue;
      }
    }
    if (method === "INCREMENTAL") {
      if (replicationKey === undefined) {
        problems.push(
          `metadata.${stream.tap_stream_id}.replication-key: INCREMENTAL needs a replication key (one of: ${validKeys(table)})`,
        );
        continue;
      }
      const keyColumn = table.columns.find((c) => c.name === replicationKey);
      if (!keyColumn) {
        problems.push(
          `metadata.${stream.tap_stream_id}.replication-key: column "${replicationKey}" does not exist in ${table.schemaName}.${table.tableName} (valid keys: ${validKeys(table)})`,
        );
        continue;
      }
      if (!canBeReplicationKey(keyColumn.type)) {
        problems.push(
          `metadata.${stream.tap_stream_id}.replication-key: column "${replicationKey}" (${keyColumn.pg.formatted}) cannot order rows (valid keys: ${validKeys(table)})`,
        );
        continue;
      }
      if (isView(table) && keyProperties.length === 0 && !key.declared) {
        problems.push(
          `metadata.${stream.tap_stream_id}.view-key-properties: INCREMENTAL reads ${table.schemaName}.${table.tableName} from its bookmark on (${replicationKey} >= the last value read), so the rows at the bookmark are read again on every run, and a view has no key to replace them by: they would be appended again each time. Set view-key-properties to the view's unique column(s) (e.g. [id]), or to [] to append them knowingly, or use FULL_TABLE`,
        );
        continue;
      }
    }
    const wanted = new Set(
      table.columns
        .filter((c) => {
          const pm = propertyMetadata(stream, c.name);
          if (pm.inclusion === "unsupported") return false;
          if (pm.inclusion === "automatic" || keyProperties.includes(c.name) || c.name === replicationKey) {
            return true;
          }
          return pm.selected === undefined ? pm["selected-by-default"] !== false : pm.selected === true;
        })
        .map((c) => c.name),
    );
    const columns: Column[] = table.columns
      .filter((c) => wanted.has(c.name))
      .map(({ name, type, nullable }) => ({ name, type, nullable }));
    // Batches carry change data in columns of these names (batch.ts); a source column of the
    // same name would be read as a delete time or a sequence.
    const reserved = columns.filter((c) => RESERVED_COLUMNS.has(c.name)).map((c) => c.name);
    if (reserved.length > 0) {
      problems.push(
        `${stream.tap_stream_id}: column(s) ${reserved.map((n) => `"${n}"`).join(", ")} of ${table.schemaName}.${table.tableName} have the names of columns sluice adds for change data; deselect them (metadata ${stream.tap_stream_id}.${reserved[0]}: selected: false) or select from a view that renames them`,
      );
      continue;
    }
    plans.push({
      table,
      replicationMethod: method,
      ...(method === "INCREMENTAL" && replicationKey !== undefined ? { replicationKey } : {}),
      schema: {
        streamId: table.streamId,
        sourceSchema: table.schemaName,
        sourceTable: table.tableName,
        columns,
        keyProperties,
        ...(method === "LOG_BASED" && wholeRowChanges(table, columns) ? { wholeRowChanges: true } : {}),
      },
    });
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return plans;
}

const RESERVED_COLUMNS = new Set([DELETED_AT_COLUMN, SEQUENCE_COLUMN, UNCHANGED_COLUMN]);

/** See `StreamSchema.wholeRowChanges`. */
function wholeRowChanges(table: DiscoveredTable, columns: readonly Column[]): boolean {
  if (table.kind !== "table" || table.replicaIdentity !== "f") return false;
  const generated = new Set(table.generatedColumns ?? []);
  return !columns.some((c) => generated.has(c.name));
}

function isView(table: DiscoveredTable): boolean {
  return table.kind === "view" || table.kind === "materialized view";
}

/**
 * The stream's key: a table's primary key; for a view, its `view-key-properties` metadata (as
 * pipelinewise-tap-postgres reads it), which loaders then upsert by as by a primary key. On a
 * table the setting is ignored, as pipelinewise does, so that one rule for every stream (`"*"`)
 * can give the views among them a key. `declared` says the metadata was set, even to `[]`.
 */
function keyPropertiesOf(
  streamId: string,
  table: DiscoveredTable,
  setting: unknown,
): { keys: string[]; declared: boolean } | { problem: string } {
  if (!isView(table)) return { keys: table.keyProperties, declared: false };
  if (setting === undefined || setting === null) return { keys: [], declared: false };
  const names = typeof setting === "string" ? [setting] : setting;
  const where = `metadata.${streamId}.view-key-properties`;
  if (!Array.isArray(names) || !names.every((n): n is string => typeof n === "string")) {
    return { problem: `${where}: expected a list of column names of the view, e.g. [id]` };
  }
  const unknown = names.filter((n) => !table.columns.some((c) => c.name === n));
  if (unknown.length > 0) {
    return {
      problem: `${where}: ${unknown.map((n) => `"${n}"`).join(", ")} not a column of ${table.schemaName}.${table.tableName} (columns: ${table.columns.map((c) => c.name).join(", ")})`,
    };
  }
  return { keys: [...new Set(names)], declared: true };
}

function validKeys(table: DiscoveredTable): string {
  return table.columns
    .filter((c) => canBeReplicationKey(c.type))
    .map((c) => c.name)
    .join(", ");
}
