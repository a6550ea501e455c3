import { ConfigError } from "../errors.js";
import type { Extractor, StreamPlan } from "../connectors/connector.js";
import type { Catalog } from "../protocol/catalog.js";
import { applySelection, narrowToStreams } from "../protocol/selection.js";
import { suggestionSuffix } from "../project/did-you-mean.js";
import type { ResolvedPlugin } from "../project/plugin-config.js";

/**
 * Discovers the extractor's catalog and applies the project's `select`, `metadata` and `schema`
 * (and `--select`), as Meltano does. A `select` or `metadata` pattern of the project file that
 * matches no stream is a warning, as Meltano ignores it (a project may name a table another
 * environment has), saying the nearest stream in case it is a typo; a `--select` of the command
 * line that matches none is an error.
 */
export async function selectedCatalog(
  extractor: Extractor,
  resolved: ResolvedPlugin,
  narrow: readonly string[] = [],
): Promise<{ catalog: Catalog; warnings: string[]; beforeNarrowing: Catalog }> {
  const discovered = await extractor.discover();
  const result = applySelection(discovered, {
    select: resolved.select,
    metadata: resolved.metadata,
    schema: resolved.schema,
  });
  const known = discovered.streams.map((s) => s.tap_stream_id);
  const listing =
    known.length > 0 ? known.slice(0, 20).join(", ") + (known.length > 20 ? ", ..." : "") : "none";
  const unmatched = (where: string, pattern: string): string => {
    // `public-itmes.*` → compare `public-itmes` with the stream ids.
    const stream = pattern.replace(/^!/, "").split(".")[0] ?? pattern;
    return `${resolved.location}.${where}: "${pattern}" matches no stream, ignored${suggestionSuffix(stream, known)} (streams: ${listing})`;
  };
  const warnings = [
    ...result.unmatchedSelect.map((pattern) => unmatched("select", pattern)),
    // A mistyped stream under `metadata` runs that stream with the default method: say so.
    ...result.unmatchedMetadata.map((key) => unmatched("metadata", key)),
  ];
  const problems: string[] = [];
  let catalog = result.catalog;
  if (narrow.length > 0) {
    const narrowed = narrowToStreams(catalog, narrow);
    problems.push(
      ...narrowed.unmatched.map((p) => `--select: "${p}" matches no stream (streams: ${listing})`),
    );
    catalog = narrowed.catalog;
  }
  if (problems.length > 0) throw new ConfigError(problems);
  warnings.push(
    ...result.unmatchedProperties.map(
      (p) =>
        `${resolved.location}: "${p.rule}" names column "${p.property}" that ${p.streamId} does not have`,
    ),
  );
  return { catalog, warnings, beforeNarrowing: result.catalog };
}

/** Discovers, applies the project's selection and plans the streams of a run. */
export async function planStreams(
  extractor: Extractor,
  extractorPlugin: ResolvedPlugin,
  select: string[],
  warn?: (message: string) => void,
): Promise<StreamPlan[]> {
  return (await planCatalog(extractor, extractorPlugin, select, warn)).plans;
}

/**
 * `planStreams`, with the selected catalog the plans came from (what an external tap is given),
 * and the LOG_BASED plans that `--select` left out (see `withSlotSharers`).
 */
export async function planCatalog(
  extractor: Extractor,
  extractorPlugin: ResolvedPlugin,
  select: string[],
  warn?: (message: string) => void,
): Promise<{ catalog: Catalog; plans: StreamPlan[]; unselectedLogBased: StreamPlan[] }> {
  const { catalog, warnings, beforeNarrowing } = await selectedCatalog(extractor, extractorPlugin, select);
  for (const warning of warnings) warn?.(warning);
  let plans: StreamPlan[];
  try {
    plans = await extractor.plan(catalog);
  } catch (error) {
    // The extractor names metadata by stream; say where in the project file it is.
    if (error instanceof ConfigError) {
      throw new ConfigError(
        error.problems.map((p) => `${extractorPlugin.location}.${p}`),
        { cause: error },
      );
    }
    throw error;
  }
  if (plans.length === 0) {
    throw new ConfigError(
      `${extractorPlugin.location}: no stream is selected (check \`select\` and --select)`,
    );
  }
  const unselected = select.length > 0 ? await unselectedLogBased(extractor, beforeNarrowing, plans) : [];
  return { catalog, plans, unselectedLogBased: unselected };
}

/**
 * The project's LOG_BASED streams that `--select` left out: they read the same replication slot
 * as the streams selected. Only built-in extractors read a slot sluice confirms; an external tap
 * keeps its own. Planned one by one: a stream left out that cannot be planned (its settings are
 * wrong, as its own run would say) is no reader of the slot, and hides no other.
 */
async function unselectedLogBased(
  extractor: Extractor,
  beforeNarrowing: Catalog,
  plans: StreamPlan[],
): Promise<StreamPlan[]> {
  if (extractor.externalTap || !plans.some((p) => p.replicationMethod === "LOG_BASED")) return [];
  const selected = new Set(plans.map((p) => p.schema.streamId));
  const found: StreamPlan[] = [];
  for (const stream of beforeNarrowing.streams) {
    if (selected.has(stream.tap_stream_id)) continue;
    try {
      found.push(...(await extractor.plan({ ...beforeNarrowing, streams: [stream] })));
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
    }
  }
  return found.filter((p) => p.replicationMethod === "LOG_BASED");
}
