import { ConfigError } from "../errors.js";
import type { JobEntry, ProjectFile, ScheduleEntry } from "../project/project-file.js";

/** One `sluice run <extractor> [<mapping>...] <loader>` of a schedule. */
export interface PipelineStep {
  extractor: string;
  /** Mapping names (of `mappers:` plugins) run between them, in order. */
  mappings?: string[];
  loader: string;
}

/** The `run` blocks of a step: `tap-postgres hash-pii target-duckdb`. */
export function stepBlocks(step: PipelineStep): string[] {
  return [step.extractor, ...(step.mappings ?? []), step.loader];
}

/**
 * The task id of each step of a schedule, stable across deploys and unique within it:
 * `<extractor>-to-<loader>`, with the mappings named when there are any
 * (`tap-postgres-via-hash-pii-to-target-duckdb`), so that two tasks of one job between the same
 * plugins through different mappings differ; a step repeated in a job gets `-2`, `-3`, ... .
 */
export function stepTaskIds(steps: readonly PipelineStep[]): string[] {
  const used = new Set<string>();
  return steps.map((step) => {
    const mappings = step.mappings ?? [];
    const base =
      mappings.length === 0
        ? `${step.extractor}-to-${step.loader}`
        : `${step.extractor}-via-${mappings.join("-")}-to-${step.loader}`;
    let id = base;
    for (let n = 2; used.has(id); n += 1) id = `${base}-${n}`;
    used.add(id);
    return id;
  });
}

/** `tap-postgres → hash-pii → target-duckdb`, for listings. */
export function describeStep(step: PipelineStep): string {
  return stepBlocks(step).join(" → ");
}

/** What a schedule runs: one pipeline, or the pipelines of its job's tasks in order. */
export interface ScheduleSteps {
  schedule: ScheduleEntry;
  job: JobEntry | undefined;
  steps: PipelineStep[];
}

export function findSchedule(project: ProjectFile, name: string): ScheduleEntry {
  const schedule = project.schedules.find((s) => s.name === name);
  if (schedule) return schedule;
  const names = project.schedules.map((s) => s.name);
  throw new ConfigError(
    `no schedule named "${name}" (${names.length === 0 ? "the project defines no schedules" : `schedules: ${names.join(", ")}`})`,
  );
}

/**
 * The pipelines a schedule runs. A job task is a list of plugin names read as consecutive
 * extractor → loader pairs, with mapping names between (`[tap-a, target-b]`,
 * `[tap-a, hash-pii, target-b]`, or `[tap-a, target-b, tap-c, target-b]` for two runs), as
 * `meltano run` reads its blocks; anything else (a transformer, a utility) is refused with the
 * task's path, since sluice runs only extractors (through mappings) into loaders.
 */
export function scheduleSteps(project: ProjectFile, schedule: ScheduleEntry): ScheduleSteps {
  if (schedule.job === undefined) {
    return {
      schedule,
      job: undefined,
      steps: [{ extractor: schedule.extractor ?? "", loader: schedule.loader ?? "" }],
    };
  }
  const job = project.jobs.find((j) => j.name === schedule.job);
  if (!job) throw new ConfigError(`${schedule.location}.job: no job named "${schedule.job}"`);
  const typeOf = (name: string): "extractor" | "loader" | "mapping" | undefined =>
    project.plugins.extractors.some((p) => p.name === name)
      ? "extractor"
      : project.plugins.loaders.some((p) => p.name === name)
        ? "loader"
        : project.plugins.mappers.some((m) => m.mappings.some((mapping) => mapping.name === name))
          ? "mapping"
          : undefined;
  const steps: PipelineStep[] = [];
  const problems: string[] = [];
  job.tasks.forEach((task, index) => {
    const where = `${job.location}.tasks[${index}]`;
    let i = 0;
    while (i < task.length) {
      const extractor = task[i]!;
      let j = i + 1;
      const mappings: string[] = [];
      while (j < task.length && typeOf(task[j]!) === "mapping") mappings.push(task[j++]!);
      const loader = task[j];
      if (typeOf(extractor) !== "extractor" || loader === undefined || typeOf(loader) !== "loader") {
        problems.push(
          `${where}: "${task.slice(i, j + 1).join(" ")}" is not an extractor followed by a loader of plugins.extractors and plugins.loaders (with mapping names of plugins.mappers between)`,
        );
        return;
      }
      steps.push({ extractor, ...(mappings.length > 0 ? { mappings } : {}), loader });
      i = j + 1;
    }
  });
  if (problems.length > 0) throw new ConfigError(problems);
  return { schedule, job, steps };
}

/** `tap-postgres → target-duckdb`, or `job daily (2 tasks)`, for listings. */
export function describeSteps(plan: ScheduleSteps): string {
  if (!plan.job) return describeStep(plan.steps[0]!);
  return `job ${plan.job.name}: ${plan.steps.map(describeStep).join(", ")}`;
}
