import { ConfigError, isTransient, messageOf } from "../errors.js";
import { nextCronTime, parseInterval, type ScheduleInterval } from "../deploy/cron.js";
import {
  findSchedule,
  scheduleSteps,
  type PipelineStep,
  type ScheduleSteps,
} from "../deploy/schedule-steps.js";
import type { ProjectFile, ScheduleEntry } from "../project/project-file.js";

/**
 * What runs a schedule's pipelines. The CLI's executor runs `runProjectPipeline`; tests record
 * calls. Kept apart from the scheduler so its timing can be tested with a fake clock.
 */
export interface ScheduleExecutor {
  /** The state id a step's run holds its lock on (`<environment>:<extractor>-to-<loader>`). */
  stateIdOf(step: PipelineStep, schedule: ScheduleEntry): string;
  /**
   * Runs one step. Resolves when it succeeded, rejects when it failed. When `signal` aborts, the
   * run finishes or rolls back its current batch, commits, and settles (rejecting, as cancelled).
   */
  runStep(step: PipelineStep, context: { schedule: ScheduleEntry; signal: AbortSignal }): Promise<void>;
  /**
   * When the schedule's pipelines last ran to an end (success or failure; a cancelled run does not
   * count, so it is caught up), read from run history; undefined when one of them never did.
   */
  lastRun(stateIds: readonly string[]): Promise<Date | undefined>;
}

/** What the scheduler reports; the CLI prints each as one log line (a JSON line with --log-format json). */
export type SchedulerEvent =
  | {
      type: "schedule-planned";
      schedule: string;
      interval: string;
      stateIds: string[];
      lastRun: string | null;
      nextRun: string | null;
    }
  | { type: "schedule-started"; schedule: string; dueAt: string; catchUp: boolean; stateIds: string[] }
  | {
      type: "schedule-finished";
      schedule: string;
      status: "success" | "failed" | "cancelled";
      seconds: number;
      error?: string;
    }
  | { type: "schedule-skipped"; schedule: string; dueAt: string; reason: string }
  | { type: "scheduler-stopping"; running: string[] };

export interface SchedulerOptions {
  project: ProjectFile;
  executor: ScheduleExecutor;
  /** The current time; a fake one in tests (and `SLUICE_SCHEDULER_NOW` in the CLI). */
  now: () => Date;
  /** Waits `ms`, or less when `signal` aborts (then it resolves, it does not reject). */
  sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Schedule names to run (`--schedule`); default every schedule of the project file. */
  only?: readonly string[];
  /**
   * How many schedules may run at once. Default 1: due schedules wait for the running one and then
   * start, one at a time. Whatever the limit, two runs holding one state id never overlap.
   */
  maxConcurrent?: number;
  onEvent?: (event: SchedulerEvent) => void;
  /** The longest single sleep, so a clock that jumps (a suspended laptop) is noticed. Default 60 s. */
  maxSleepMs?: number;
}

/** What a scheduler did, for the exit code of `--once`. */
export interface SchedulerResult {
  started: number;
  succeeded: number;
  failed: number;
  /** Of `failed`, those that failed transiently (a retry can help): `--once` exits 75 when all did. */
  failedTransiently: number;
  cancelled: number;
  skipped: number;
}

interface ScheduleSlot {
  entry: ScheduleEntry;
  plan: ScheduleSteps;
  interval: ScheduleInterval;
  stateIds: string[];
  startDate: Date | undefined;
  /** The next time it is due; undefined when it never is again (`@once` done, a cron that never fires). */
  nextDue: Date | undefined;
  /** Due and waiting for a free run slot, with the time it was due. */
  pendingSince: Date | undefined;
  /** Its first run since the scheduler started makes up for time the scheduler was down. */
  catchUp: boolean;
  running: boolean;
}

/**
 * Runs the schedules of a project file on time, on one machine, as Airflow would with
 * `catchup=False`:
 * - A schedule is due at each time its interval fires (UTC). `@once` runs once: when none of its
 *   pipelines has ever run (run history), as Airflow runs an `@once` DAG when it first appears.
 * - After downtime it catches up at most once: on start, a schedule whose last run is older than
 *   its latest due time (or that never ran) runs once now, not once per missed time.
 * - Two runs holding one state id never overlap: a schedule whose state id is held by a running
 *   schedule (itself, or another schedule of the same pipeline) when its time comes is skipped
 *   with a `schedule-skipped` event, not queued. A run elsewhere (another process) holding the
 *   lock makes the run fail with the lock's StateError, which names the holder.
 * - `stop()` starts no new run and aborts the running ones (each finishes or rolls back its batch
 *   and commits); `run()` then resolves once they have settled.
 */
export class Scheduler {
  private readonly slots: ScheduleSlot[];
  private readonly options: SchedulerOptions;
  private readonly maxConcurrent: number;
  private readonly stopController = new AbortController();
  private wake = new AbortController();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly heldStateIds = new Map<string, string>();
  private readonly result: SchedulerResult = {
    started: 0,
    succeeded: 0,
    failed: 0,
    failedTransiently: 0,
    cancelled: 0,
    skipped: 0,
  };
  private initialised = false;

  constructor(options: SchedulerOptions) {
    this.options = options;
    this.maxConcurrent = options.maxConcurrent ?? 1;
    if (!Number.isSafeInteger(this.maxConcurrent) || this.maxConcurrent < 1) {
      throw new ConfigError(`--max-concurrent must be a whole number >= 1, got ${options.maxConcurrent}`);
    }
    const { project } = options;
    const entries =
      options.only && options.only.length > 0
        ? options.only.map((name) => findSchedule(project, name))
        : project.schedules;
    if (entries.length === 0) {
      throw new ConfigError("schedules: the project file defines no schedules for the scheduler to run");
    }
    this.slots = entries.map((entry) => {
      const plan = scheduleSteps(project, entry);
      const startDate = parseStartDate(entry);
      return {
        entry,
        plan,
        interval: parseInterval(entry.interval),
        stateIds: [...new Set(plan.steps.map((step) => options.executor.stateIdOf(step, entry)))],
        startDate,
        nextDue: undefined,
        pendingSince: undefined,
        catchUp: false,
        running: false,
      };
    });
  }

  /** True once `stop()` was called. */
  get stopping(): boolean {
    return this.stopController.signal.aborted;
  }

  /**
   * Starts no new run and aborts the running ones; `run()`/`runOnce()` resolve once they settled.
   * Calling it again does nothing.
   */
  stop(): void {
    if (this.stopping) return;
    this.emit({
      type: "scheduler-stopping",
      running: this.slots.filter((s) => s.running).map((s) => s.entry.name),
    });
    this.stopController.abort();
    this.wake.abort();
  }

  /** Runs until `stop()`: every schedule on time. */
  async run(): Promise<SchedulerResult> {
    await this.initialise();
    while (!this.stopping) {
      this.markDue();
      this.dispatch();
      if (this.stopping) break;
      await this.sleepUntilNext();
    }
    await this.settle();
    return { ...this.result };
  }

  /**
   * Runs what is due now (the catch-up runs, and schedules due at this very time), waits for them
   * and returns: for hosts that call the scheduler from cron, and for tests.
   */
  async runOnce(): Promise<SchedulerResult> {
    await this.initialise();
    this.markDue();
    this.dispatch();
    while (this.inFlight.size > 0) {
      await Promise.race(this.inFlight);
      if (!this.stopping) this.dispatch();
    }
    // A schedule still pending when a stop came never started.
    return { ...this.result };
  }

  /** Reads when each schedule last ran and decides when it is next due. */
  private async initialise(): Promise<void> {
    if (this.initialised) return;
    this.initialised = true;
    const now = this.options.now();
    for (const slot of this.slots) {
      const last = await this.options.executor.lastRun(slot.stateIds);
      if (slot.interval.kind === "once") {
        slot.nextDue = last === undefined ? laterOf(now, slot.startDate) : undefined;
      } else if (last === undefined && (slot.startDate === undefined || slot.startDate <= now)) {
        // Never ran: due now, as Airflow runs the latest interval of a new DAG.
        slot.nextDue = now;
      } else {
        // The first time after the last run, and not before `start_date`.
        const fromStart = slot.startDate ? new Date(slot.startDate.getTime() - 1) : undefined;
        slot.nextDue = nextCronTime(slot.interval.cron, laterOf(last ?? now, fromStart));
      }
      slot.catchUp = slot.nextDue !== undefined && slot.nextDue.getTime() <= now.getTime();
      this.emit({
        type: "schedule-planned",
        schedule: slot.entry.name,
        interval: slot.entry.interval,
        stateIds: slot.stateIds,
        lastRun: last?.toISOString() ?? null,
        nextRun: slot.nextDue === undefined ? null : laterOf(slot.nextDue, now).toISOString(),
      });
    }
  }

  /**
   * Marks each schedule whose time has come as pending, and moves its next time past now: however
   * many of its times went by, it runs once.
   */
  private markDue(): void {
    const now = this.options.now();
    for (const slot of this.slots) {
      if (slot.nextDue === undefined || slot.nextDue.getTime() > now.getTime()) continue;
      const dueAt = slot.nextDue;
      slot.nextDue = slot.interval.kind === "once" ? undefined : nextCronTime(slot.interval.cron, now);
      if (slot.running) {
        this.skip(slot, dueAt, `its previous run is still running`);
        continue;
      }
      slot.pendingSince ??= dueAt;
    }
  }

  /** Starts pending schedules while there is room; skips those whose state id is held. */
  private dispatch(): void {
    const pending = this.slots
      .filter((slot) => slot.pendingSince !== undefined)
      .sort((a, b) => a.pendingSince!.getTime() - b.pendingSince!.getTime());
    for (const slot of pending) {
      if (this.stopping) return;
      const dueAt = slot.pendingSince!;
      const held = slot.stateIds.find((id) => this.heldStateIds.has(id));
      if (held !== undefined) {
        slot.pendingSince = undefined;
        this.skip(
          slot,
          dueAt,
          `state id ${held} is held by the running schedule ${this.heldStateIds.get(held)}`,
        );
        continue;
      }
      if (this.inFlight.size >= this.maxConcurrent) continue;
      slot.pendingSince = undefined;
      this.start(slot, dueAt);
    }
  }

  private skip(slot: ScheduleSlot, dueAt: Date, reason: string): void {
    this.result.skipped += 1;
    this.emit({ type: "schedule-skipped", schedule: slot.entry.name, dueAt: dueAt.toISOString(), reason });
  }

  private start(slot: ScheduleSlot, dueAt: Date): void {
    slot.running = true;
    for (const id of slot.stateIds) this.heldStateIds.set(id, slot.entry.name);
    this.result.started += 1;
    const catchUp = slot.catchUp;
    slot.catchUp = false;
    this.emit({
      type: "schedule-started",
      schedule: slot.entry.name,
      dueAt: dueAt.toISOString(),
      catchUp,
      stateIds: slot.stateIds,
    });
    const promise = this.runSteps(slot).finally(() => {
      slot.running = false;
      for (const id of slot.stateIds) this.heldStateIds.delete(id);
      this.inFlight.delete(promise);
      // A free slot may let a pending schedule start now rather than at the next wake-up.
      this.wake.abort();
    });
    this.inFlight.add(promise);
  }

  private async runSteps(slot: ScheduleSlot): Promise<void> {
    const started = Date.now();
    const signal = this.stopController.signal;
    const finished = (status: "success" | "failed" | "cancelled", error?: string): void => {
      this.result[status === "success" ? "succeeded" : status] += 1;
      this.emit({
        type: "schedule-finished",
        schedule: slot.entry.name,
        status,
        seconds: (Date.now() - started) / 1000,
        ...(error !== undefined ? { error } : {}),
      });
    };
    try {
      for (const step of slot.plan.steps) {
        if (signal.aborted) break;
        await this.options.executor.runStep(step, { schedule: slot.entry, signal });
      }
      if (signal.aborted) finished("cancelled", "the scheduler was stopped");
      else finished("success");
    } catch (error) {
      if (!signal.aborted && isTransient(error)) this.result.failedTransiently += 1;
      finished(signal.aborted ? "cancelled" : "failed", messageOf(error));
    }
  }

  private async sleepUntilNext(): Promise<void> {
    const now = this.options.now().getTime();
    const times = this.slots.flatMap((slot) => (slot.nextDue ? [slot.nextDue.getTime()] : []));
    const maxSleep = this.options.maxSleepMs ?? 60_000;
    const wait = times.length === 0 ? maxSleep : Math.min(maxSleep, Math.max(0, Math.min(...times) - now));
    if (this.wake.signal.aborted) this.wake = new AbortController();
    if (wait > 0) await this.options.sleep(wait, this.wake.signal);
    if (this.wake.signal.aborted && !this.stopping) this.wake = new AbortController();
  }

  private async settle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  private emit(event: SchedulerEvent): void {
    this.options.onEvent?.(event);
  }
}

/** A real sleep that ends early, without an error, when `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

function parseStartDate(entry: ScheduleEntry): Date | undefined {
  if (entry.start_date === undefined || entry.start_date === "") return undefined;
  const date = new Date(entry.start_date);
  if (Number.isNaN(date.getTime())) {
    throw new ConfigError(
      `${entry.location}.start_date: "${entry.start_date}" is not a date (use ISO 8601: 2024-01-31 or 2024-01-31T02:00:00Z)`,
    );
  }
  return date;
}

function laterOf(a: Date, b: Date | undefined): Date {
  return b !== undefined && b.getTime() > a.getTime() ? b : a;
}
