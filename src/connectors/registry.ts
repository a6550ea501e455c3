import { targetBigquery } from "./bigquery/target-bigquery.js";
import type { PluginDefinition } from "./connector.js";
import { targetDuckdb } from "./duckdb/target-duckdb.js";
import { targetJsonl } from "./jsonl/target-jsonl.js";
import { tapPostgres } from "./postgres/tap-postgres.js";
import { targetPostgres } from "./postgres-target/target-postgres.js";

/** The connectors that run in-process. A project plugin with one of these names uses them. */
export const builtinPlugins: readonly PluginDefinition[] = [
  tapPostgres,
  targetDuckdb,
  targetJsonl,
  targetBigquery,
  targetPostgres,
];

export function findBuiltinPlugin(name: string): PluginDefinition | undefined {
  return builtinPlugins.find((p) => p.name === name);
}
