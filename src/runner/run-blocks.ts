import { scheduleSteps, type PipelineStep } from "../deploy/schedule-steps.js";
import { ConfigError } from "../errors.js";
import { findMapping } from "../connectors/stream-maps/builtin-mapper.js";
import { suggestionSuffix } from "../project/did-you-mean.js";
import type { ProjectFile } from "../project/project-file.js";

/** What `sluice run <blocks...>` runs, in order, and the job each pipeline came from. */
export interface RunBlockStep extends PipelineStep {
  job?: string;
}

/**
 * The pipelines of `sluice run` arguments, read as `meltano run` reads its blocks: a job name
 * stands for its tasks (each an extractor → loader pair, in order), an extractor must be followed
 * by a loader, with the names of mappings (of `mappers:` plugins) between them, run in order.
 * `run daily`, `run tap-postgres target-duckdb`, `run tap-postgres hash-pii target-duckdb` and
 * `run daily tap-a target-b` are all valid. A name that is both a job and a plugin is taken as
 * the plugin.
 */
export function resolveRunBlocks(project: ProjectFile, blocks: readonly string[]): RunBlockStep[] {
  const isPlugin = (name: string): boolean =>
    project.plugins.extractors.some((p) => p.name === name) ||
    project.plugins.loaders.some((p) => p.name === name);
  const steps: RunBlockStep[] = [];
  for (let i = 0; i < blocks.length; i++) {
    const name = blocks[i]!;
    const job = isPlugin(name) ? undefined : project.jobs.find((j) => j.name === name);
    if (job) {
      // A job runs as a schedule of it would: the same reading of its tasks, the same errors.
      const plan = scheduleSteps(project, {
        name: job.name,
        interval: "@once",
        job: job.name,
        env: {},
        location: job.location,
      });
      steps.push(...plan.steps.map((step) => ({ ...step, job: job.name })));
      continue;
    }
    // Anything else starts an extractor → loader pair; the pipeline checks the two names (a
    // built-in plugin need not be declared), as `sluice run <extractor> <loader>` always did.
    const mappings: string[] = [];
    while (i + 1 < blocks.length && findMapping(project, blocks[i + 1]!)) mappings.push(blocks[++i]!);
    const loader = blocks[i + 1];
    if (mappings.length > 0 && loader === undefined) {
      throw new ConfigError(
        `sluice run: missing the loader after mapping "${mappings.at(-1)!}" (loaders: ${namesOf(project.plugins.loaders)})`,
      );
    }
    const after = blocks[i + 2];
    if (
      loader !== undefined &&
      after !== undefined &&
      !isPlugin(loader) &&
      !project.jobs.some((j) => j.name === after) &&
      !project.plugins.extractors.some((p) => p.name === after)
    ) {
      // `run tap hsah-pii target`: the name between is neither a mapping nor a loader.
      const mappingNames = project.plugins.mappers.flatMap((m) => m.mappings.map((mapping) => mapping.name));
      throw new ConfigError(
        `sluice run: "${loader}" is not a mapping of plugins.mappers${suggestionSuffix(loader, mappingNames)} (mappings: ${mappingNames.length === 0 ? "none" : mappingNames.join(", ")})`,
      );
    }
    if (loader === undefined && project.plugins.extractors.some((p) => p.name === name)) {
      throw new ConfigError(
        `sluice run: missing required argument 'loader' after extractor "${name}" (loaders: ${namesOf(project.plugins.loaders)})`,
      );
    }
    if (loader === undefined) {
      throw new ConfigError(
        `sluice run: "${name}" is neither a job nor an extractor followed by a loader (jobs: ${namesOf(project.jobs)})`,
      );
    }
    steps.push({ extractor: name, ...(mappings.length > 0 ? { mappings } : {}), loader });
    i += 1;
  }
  return steps;
}

function namesOf(entries: readonly { name: string }[]): string {
  return entries.length === 0 ? "none" : entries.map((e) => e.name).join(", ");
}
