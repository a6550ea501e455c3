import { tapPostgresUpstream } from "./tap-postgres-upstream.js";
import { targetBigqueryUpstream } from "./target-bigquery-upstream.js";
import { targetDuckdbUpstream } from "./target-duckdb-upstream.js";
import { targetJsonlUpstream } from "./target-jsonl-upstream.js";
import { targetPostgresUpstream } from "./target-postgres-upstream.js";
import type { UpstreamInventory, UpstreamSetting } from "./upstream-setting.js";

/**
 * Every setting the upstream variants of the built-in plugins document, by plugin: the one list
 * the resolver (`SettingValues`), `sluice tap|target --config` and `npm run schema` read.
 */
export const upstreamInventories: readonly UpstreamInventory[] = [
  tapPostgresUpstream,
  targetBigqueryUpstream,
  targetDuckdbUpstream,
  targetJsonlUpstream,
  targetPostgresUpstream,
];

/** The upstream settings of a built-in plugin, by name (none for a plugin without an inventory). */
export function upstreamSettingsOf(plugin: string): readonly UpstreamSetting[] {
  return upstreamInventories.find((inventory) => inventory.plugin === plugin)?.settings ?? [];
}
