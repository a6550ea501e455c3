import { targetBigquery } from "./target-bigquery/target-bigquery.js";
import type { PluginDefinition } from "./connector.js";
import { targetDuckdb } from "./target-duckdb/target-duckdb.js";
import { targetJsonl } from "./target-jsonl/target-jsonl.js";
import { tapPostgres } from "./tap-postgres/tap-postgres.js";
import { targetPostgres } from "./target-postgres/target-postgres.js";

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
