import { ConfigError } from "../errors.js";
import type { JobEntry, ProjectFile, ScheduleEntry } from "../project/project-file.js";

/** One `sluice run <extractor> <loader>` of a schedule. */
export interface PipelineStep {
  extractor: string;
  loader: string;
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
 * extractor → loader pairs (`[tap-a, target-b]`, or `[tap-a, target-b, tap-c, target-b]` for two
 * runs), as `meltano run` reads its blocks; anything else (a mapper, a transformer) is refused
 * with the task's path, since sluice runs only extractors into loaders.
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
  const typeOf = (name: string): "extractor" | "loader" | undefined =>
    project.plugins.extractors.some((p) => p.name === name)
      ? "extractor"
      : project.plugins.loaders.some((p) => p.name === name)
        ? "loader"
        : undefined;
  const steps: PipelineStep[] = [];
  const problems: string[] = [];
  job.tasks.forEach((task, index) => {
    const where = `${job.location}.tasks[${index}]`;
    if (task.length % 2 !== 0) {
      problems.push(`${where}: expected extractor and loader pairs, got ${task.join(" ")}`);
      return;
    }
    for (let i = 0; i < task.length; i += 2) {
      const extractor = task[i]!;
      const loader = task[i + 1]!;
      if (typeOf(extractor) !== "extractor" || typeOf(loader) !== "loader") {
        problems.push(
          `${where}: "${extractor} ${loader}" is not an extractor followed by a loader of plugins.extractors and plugins.loaders`,
        );
        continue;
      }
      steps.push({ extractor, loader });
    }
  });
  if (problems.length > 0) throw new ConfigError(problems);
  return { schedule, job, steps };
}

/** `tap-postgres → target-duckdb`, or `job daily (2 tasks)`, for listings. */
export function describeSteps(plan: ScheduleSteps): string {
  if (!plan.job) return `${plan.steps[0]!.extractor} → ${plan.steps[0]!.loader}`;
  return `job ${plan.job.name}: ${plan.steps.map((s) => `${s.extractor} → ${s.loader}`).join(", ")}`;
}
