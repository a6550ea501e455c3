import { randomUUID } from "node:crypto";
import type { Loader, StreamPlan } from "../connectors/connector.js";
import { ConfigError } from "../errors.js";
import { composePipeline, type ComposePipelineOptions } from "./compose-pipeline.js";
import type { ProjectContext } from "./project-context.js";
import { retryPolicyOf } from "./retry-policy.js";
import { runPipeline } from "./run-pipeline.js";
import { runSingerPipeline } from "./run-singer-pipeline.js";
import { spoolBase, spoolDirFor, sweepAbandonedSpoolDirs } from "./spool-dir.js";
import type { RunObserver, RunSummary } from "./run-events.js";

export interface ProjectRunOptions extends ComposePipelineOptions {
  fullRefresh?: boolean;
  observer: RunObserver;
  signal?: AbortSignal;
  /** Plan the run and stop before moving any data. */
  dryRun?: boolean;
  /** LOG_BASED: stream changes until stopped (SIGTERM) instead of stopping at the WAL end. */
  follow?: boolean;
  /** `--max-retries`: wins over the project file's `max_retries` (see `retryPolicyOf`). */
  maxRetries?: number;
}

export interface ProjectRunResult {
  summary?: RunSummary;
  plans: StreamPlan[];
  stateId: string;
  loader: Loader;
}

/**
 * `sluice run <extractor> [<mapping>...] <loader>`: the parts composed from the project
 * (`composePipeline`), then discovery, selection, planning and the run under the state lock:
 * `runSingerPipeline` when either end is an external Singer process or mappings run between that
 * `runPipeline` cannot apply to batches, else `runPipeline`.
 */
export async function runProjectPipeline(
  context: ProjectContext,
  options: ProjectRunOptions,
): Promise<ProjectRunResult> {
  // Nothing awaited before: both plugins' settings are read as the call starts (see composePipeline).
  const parts = await composePipeline(context, options);
  const { extractor, loader, stateId } = parts;
  if (options.follow && parts.mappers.length > 0) {
    // A run through mappings moves Singer messages, which stop at the WAL's end.
    await extractor.close();
    throw new ConfigError(
      `--follow does not run through mappings (${parts.mappers.map((m) => m.name).join(", ")}); run without --follow, on a schedule`,
    );
  }
  if (options.dryRun) {
    try {
      return { plans: (await parts.plan()).plans, stateId, loader };
    } finally {
      await extractor.close();
    }
  }
  const stores = await parts.openStores();
  const runId = randomUUID();
  const spool = spoolBase();
  sweepAbandonedSpoolDirs(spool);
  let plans: StreamPlan[] = [];
  const plan = async () => {
    const planned = await parts.plan();
    plans = planned.plans;
    return planned;
  };
  const run = {
    runId,
    stateId,
    extractorName: parts.extractorPlugin.name,
    loaderName: parts.loaderPlugin.name,
    extractor,
    loader,
    stateStore: stores.stateStore,
    runHistory: stores.runHistory,
    fullRefresh: options.fullRefresh ?? false,
    spoolDir: spoolDirFor(spool, runId),
    observer: options.observer,
    redact: (text: string) => context.redactor.redact(text),
    ...(options.signal ? { signal: options.signal } : {}),
  };
  try {
    // An external Singer process on either end, or mappings between that cannot apply to batches
    // (see `map-batches.ts`): the run moves Singer messages, not batches.
    if (
      extractor.externalTap ||
      loader.externalTarget ||
      (parts.mappers.length > 0 && !parts.mapsOnBatches)
    ) {
      const summary = await runSingerPipeline({ ...run, plan, mappers: parts.mappers });
      return { summary, plans, stateId, loader };
    }
    const summary = await runPipeline({
      ...run,
      plan,
      follow: options.follow ?? false,
      retry: retryPolicyOf(
        context.loaded.project,
        options.maxRetries !== undefined ? { maxRetries: options.maxRetries } : {},
      ),
    });
    return { summary, plans, stateId, loader };
  } finally {
    await stores.close();
  }
}
