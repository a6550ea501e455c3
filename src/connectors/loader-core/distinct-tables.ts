import { ConfigError } from "../../errors.js";
import type { StreamSchema } from "../column-type.js";

/** Where a loader puts a stream's rows: a name to show, and the key the warehouse compares by. */
export interface TargetTable {
  /** `schema.table` (or `dataset.table`) as the warehouse spells it. */
  name: string;
  /** The same, as the warehouse tells names apart (DuckDB: case-folded). */
  key: string;
}

/**
 * Refuses, before anything is written, streams of one run that would land in the same warehouse
 * table: `s1.orders` and `s2.orders` into one `default_target_schema` (or any BigQuery dataset),
 * `Orders` and `orders` in DuckDB, two names that sanitize alike in BigQuery. Loaded one after
 * the other, the second would replace or merge into the first, and the run would say success.
 */
export function assertDistinctTables(
  loaderName: string,
  schemas: readonly StreamSchema[],
  tableOf: (schema: StreamSchema) => TargetTable,
): void {
  const seen = new Map<string, { streamId: string; table: TargetTable }>();
  const problems: string[] = [];
  for (const schema of schemas) {
    const table = tableOf(schema);
    const other = seen.get(table.key);
    if (other) {
      problems.push(
        `${loaderName}: streams ${other.streamId} and ${schema.streamId} would both be loaded into ${table.name}${other.table.name !== table.name ? ` (to ${loaderName}, ${other.table.name} is the same table)` : ""}, the second replacing or merging into the first; deselect one, or load them with different settings (table_prefix, default_target_schema) in two pipelines`,
      );
    } else {
      seen.set(table.key, { streamId: schema.streamId, table });
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
}
