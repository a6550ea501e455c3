import { invokeSingerExecutable } from "../connectors/external-singer/invoke-singer-executable.js";
import { SingerTapProcess } from "../connectors/external-singer/singer-tap-process.js";
import type { Catalog } from "../protocol/catalog.js";
import type { ResolvedPlugin } from "../project/plugin-config.js";
import { externalPlugin } from "./compose-pipeline.js";
import { selectedCatalog } from "./plan-streams.js";
import type { ProjectContext } from "./project-context.js";

/**
 * `sluice invoke` of an external Singer plugin, as `meltano invoke`: its executable (found as a
 * run finds it) started in the project's folder with the project's settings as its `--config`
 * file, then the given arguments. Given none, a tap is run in sync mode as Meltano does it: with
 * the catalog of its own discovery, the project's `select`/`metadata`/`schema` applied (no state:
 * outside a pipeline there is no state id). Resolves with the plugin's exit code.
 */
export async function invokeExternalPlugin(
  context: ProjectContext,
  resolved: ResolvedPlugin,
  args: readonly string[],
  output: { warn?: (message: string) => void } = {},
): Promise<number> {
  const plugin = externalPlugin(context, resolved, {});
  let catalog: Catalog | undefined;
  if (resolved.type === "extractor" && args.length === 0 && discoversCatalog(resolved.capabilities)) {
    const selected = await selectedCatalog(new SingerTapProcess(plugin), resolved);
    for (const warning of selected.warnings) output.warn?.(warning);
    catalog = selected.catalog;
  }
  return invokeSingerExecutable(plugin, { args, ...(catalog ? { catalog } : {}) });
}

/** Whether a tap takes a catalog it discovered: what its `capabilities` say, all when not listed. */
function discoversCatalog(capabilities: readonly string[] | undefined): boolean {
  if (capabilities === undefined) return true;
  return (
    capabilities.includes("discover") &&
    (capabilities.includes("catalog") || capabilities.includes("properties"))
  );
}
