import { describe, expect, it } from "vitest";
import type { PipelineStep } from "../../../src/deploy/schedule-steps.js";
import { ConfigError } from "../../../src/errors.js";
import type { ProjectFile, ScheduleEntry } from "../../../src/project/project-file.js";
import {
  Scheduler,
  sleep,
  type ScheduleExecutor,
  type SchedulerEvent,
  type SchedulerOptions,
} from "../../../src/runner/scheduler.js";

/** A clock that moves only when the scheduler sleeps. */
class FakeClock {
  constructor(private time: number) {}
  now = (): Date => new Date(this.time);
  advance(ms: number): void {
    this.time += ms;
  }
  /**
   * The scheduler's sleep: lets pending work (finished runs) settle first; woken early (a run
   * ended, or stop), it returns without moving the clock, as a real sleep would return early.
   */
  sleep = async (ms: number, signal: AbortSignal): Promise<void> => {
    await new Promise((resolve) => setImmediate(resolve));
    if (!signal.aborted) this.advance(ms);
  };
}

interface Call {
  schedule: string;
  step: PipelineStep;
  at: string;
}

/** Records each step with the clock's time; a step of a schedule in `hold` waits until released. */
class RecordingExecutor implements ScheduleExecutor {
  readonly calls: Call[] = [];
  running = 0;
  maxRunning = 0;
  private readonly held = new Map<string, Array<() => void>>();

  constructor(
    private readonly clock: { now: () => Date },
    private readonly options: {
      lastRuns?: Record<string, string>;
      stateIds?: Record<string, string>;
      hold?: string[];
      /** Steps that fail with this message. */
      fail?: Record<string, string>;
    } = {},
  ) {}

  stateIdOf(step: PipelineStep): string {
    return this.options.stateIds?.[step.extractor] ?? `dev:${step.extractor}-to-${step.loader}`;
  }

  async lastRun(stateIds: readonly string[]): Promise<Date | undefined> {
    const times = stateIds.map((id) => this.options.lastRuns?.[id]);
    if (times.some((t) => t === undefined)) return undefined;
    return new Date(Math.min(...times.map((t) => Date.parse(t!))));
  }

  async runStep(
    step: PipelineStep,
    context: { schedule: ScheduleEntry; signal: AbortSignal },
  ): Promise<void> {
    this.calls.push({ schedule: context.schedule.name, step, at: this.clock.now().toISOString() });
    this.running += 1;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    try {
      if (this.options.hold?.includes(context.schedule.name)) {
        await new Promise<void>((resolve) => {
          const waiting = this.held.get(context.schedule.name) ?? [];
          waiting.push(resolve);
          this.held.set(context.schedule.name, waiting);
        });
        // As the runner does: a stopped run finishes its batch, commits, then reports it stopped.
        if (context.signal.aborted) throw new Error("the run was stopped before it finished");
      }
      const failure = this.options.fail?.[step.extractor];
      if (failure !== undefined) throw new Error(failure);
    } finally {
      this.running -= 1;
    }
  }

  /** Lets the held runs of `schedule` finish. */
  release(schedule: string): void {
    for (const resolve of this.held.get(schedule) ?? []) resolve();
    this.held.delete(schedule);
  }

  isHeld(schedule: string): boolean {
    return (this.held.get(schedule)?.length ?? 0) > 0;
  }
}

function schedule(name: string, interval: string, extra: Partial<ScheduleEntry> = {}): ScheduleEntry {
  return {
    name,
    interval,
    extractor: `tap-${name}`,
    loader: "target-duckdb",
    env: {},
    location: `schedules[${name}]`,
    ...extra,
  };
}

function project(schedules: ScheduleEntry[], jobs: ProjectFile["jobs"] = []): ProjectFile {
  const extractors = [...new Set(schedules.map((s) => s.extractor ?? ""))].filter((n) => n !== "");
  return {
    plugins: {
      extractors: [...extractors, "tap-a", "tap-b"].map((name) => ({ name })),
      loaders: [{ name: "target-duckdb" }],
    },
    schedules,
    jobs,
    env: {},
    include_paths: [],
    environments: [],
  } as unknown as ProjectFile;
}

function setup(
  schedules: ScheduleEntry[],
  start: string,
  executorOptions: ConstructorParameters<typeof RecordingExecutor>[1] = {},
  options: Partial<SchedulerOptions> = {},
) {
  const clock = new FakeClock(Date.parse(start));
  const executor = new RecordingExecutor(clock, executorOptions);
  const events: SchedulerEvent[] = [];
  const scheduler = new Scheduler({
    project: project(schedules),
    executor,
    now: clock.now,
    // Through the clock's current `sleep`, which `runUntil` wraps.
    sleep: (ms, signal) => clock.sleep(ms, signal),
    onEvent: (event) => events.push(event),
    ...options,
  });
  /** Runs the scheduler until the clock reaches `until`, then stops it as SIGTERM would. */
  const runUntil = async (until: string) => {
    const end = Date.parse(until);
    const sleepThenStop = clock.sleep;
    clock.sleep = async (ms, signal) => {
      await sleepThenStop(ms, signal);
      if (clock.now().getTime() >= end) scheduler.stop();
    };
    return scheduler.run();
  };
  return { clock, executor, events, scheduler, runUntil };
}

const of = <T extends SchedulerEvent["type"]>(events: SchedulerEvent[], type: T) =>
  events.filter((e): e is Extract<SchedulerEvent, { type: T }> => e.type === type);

describe("Scheduler: due times", () => {
  it("runs a cron schedule at each of its times, in UTC", async () => {
    const { executor, runUntil } = setup([schedule("orders", "*/5 * * * *")], "2026-01-01T10:01:00Z", {
      lastRuns: { "dev:tap-orders-to-target-duckdb": "2026-01-01T10:00:10Z" },
    });
    const result = await runUntil("2026-01-01T10:21:00Z");
    expect(executor.calls.map((c) => c.at)).toEqual([
      "2026-01-01T10:05:00.000Z",
      "2026-01-01T10:10:00.000Z",
      "2026-01-01T10:15:00.000Z",
      "2026-01-01T10:20:00.000Z",
    ]);
    expect(result).toMatchObject({ started: 4, succeeded: 4, failed: 0, skipped: 0 });
  });

  it("runs macros (@hourly, @daily) and a job's steps in order", async () => {
    const { executor, runUntil } = setup(
      [schedule("hourly", "@hourly"), schedule("nightly", "@daily", { extractor: undefined, job: "both" })],
      "2026-01-01T22:30:00Z",
      {
        lastRuns: {
          "dev:tap-hourly-to-target-duckdb": "2026-01-01T22:00:05Z",
          "dev:tap-a-to-target-duckdb": "2026-01-01T00:00:05Z",
          "dev:tap-b-to-target-duckdb": "2026-01-01T00:00:09Z",
        },
      },
      {
        project: project(
          [
            schedule("hourly", "@hourly"),
            schedule("nightly", "@daily", { extractor: undefined, job: "both" }),
          ],
          [
            {
              name: "both",
              tasks: [["tap-a", "target-duckdb", "tap-b", "target-duckdb"]],
              location: "jobs[0]",
            },
          ],
        ),
        maxConcurrent: 2,
      },
    );
    await runUntil("2026-01-02T01:30:00Z");
    expect(executor.calls.map((c) => `${c.at} ${c.schedule} ${c.step.extractor}`)).toEqual([
      "2026-01-01T23:00:00.000Z hourly tap-hourly",
      "2026-01-02T00:00:00.000Z hourly tap-hourly",
      "2026-01-02T00:00:00.000Z nightly tap-a",
      "2026-01-02T00:00:00.000Z nightly tap-b",
      "2026-01-02T01:00:00.000Z hourly tap-hourly",
    ]);
  });

  it("does not run before the schedule's start_date", async () => {
    const { executor, runUntil } = setup(
      [schedule("later", "@hourly", { start_date: "2026-01-01T12:00:00Z" })],
      "2026-01-01T10:30:00Z",
    );
    await runUntil("2026-01-01T13:30:00Z");
    expect(executor.calls.map((c) => c.at)).toEqual(["2026-01-01T12:00:00.000Z", "2026-01-01T13:00:00.000Z"]);
  });

  it("runs with real seconds: a cron with a seconds field fires on each second", async () => {
    const calls: number[] = [];
    const scheduler = new Scheduler({
      project: project([schedule("fast", "* * * * * *")]),
      executor: {
        stateIdOf: () => "dev:fast",
        lastRun: async () => new Date(),
        runStep: async () => {
          calls.push(Date.now());
        },
      },
      now: () => new Date(),
      sleep,
    });
    const running = scheduler.run();
    await new Promise((resolve) => setTimeout(resolve, 2_600));
    scheduler.stop();
    await running;
    expect(calls.length).toBeGreaterThanOrEqual(2);
    expect(calls.length).toBeLessThanOrEqual(3);
    // On time: within a fraction of a second after each whole second.
    for (const at of calls) expect(at % 1000).toBeLessThan(500);
  });
});

describe("Scheduler: runs of one state id never overlap", () => {
  it("skips a schedule still running when its next time comes, with an event, and runs again after", async () => {
    const { clock, executor, events, scheduler } = setup(
      [schedule("slow", "* * * * *")],
      "2026-01-01T10:00:30Z",
      { lastRuns: { "dev:tap-slow-to-target-duckdb": "2026-01-01T10:00:00Z" }, hold: ["slow"] },
    );
    const running = scheduler.run();
    await expect.poll(() => executor.isHeld("slow")).toBe(true);
    expect(executor.calls.map((c) => c.at)).toEqual(["2026-01-01T10:01:00.000Z"]);
    await expect.poll(() => clock.now().toISOString() >= "2026-01-01T10:03:30.000Z").toBe(true);
    executor.release("slow");
    await expect.poll(() => executor.calls.length).toBe(2);
    executor.release("slow");
    scheduler.stop();
    const result = await running;

    expect(executor.maxRunning).toBe(1);
    const skipped = of(events, "schedule-skipped");
    expect(skipped.length).toBeGreaterThanOrEqual(2);
    expect(skipped[0]).toMatchObject({
      schedule: "slow",
      dueAt: "2026-01-01T10:02:00.000Z",
      reason: "its previous run is still running",
    });
    expect(result.skipped).toBe(skipped.length);
    // Not queued: the run after the long one is at its own time, not at once for every skipped time.
    expect(executor.calls[1]!.at).toMatch(/:00\.000Z$/);
  });

  it("skips a schedule whose state id another running schedule holds, even with room for both", async () => {
    const shared = "dev:tap-shared-to-target-duckdb";
    const { executor, events, scheduler } = setup(
      [schedule("first", "@hourly"), schedule("second", "@hourly"), schedule("other", "@hourly")],
      "2026-01-01T10:00:00Z",
      { stateIds: { "tap-first": shared, "tap-second": shared }, hold: ["first", "other"] },
      { maxConcurrent: 3 },
    );
    const running = scheduler.runOnce();
    await expect.poll(() => executor.isHeld("first") && executor.isHeld("other")).toBe(true);
    executor.release("first");
    executor.release("other");
    const result = await running;
    expect(executor.calls.map((c) => c.schedule)).toEqual(["first", "other"]);
    expect(executor.maxRunning).toBe(2);
    expect(of(events, "schedule-skipped")).toEqual([
      {
        type: "schedule-skipped",
        schedule: "second",
        dueAt: "2026-01-01T10:00:00.000Z",
        reason: `state id ${shared} is held by the running schedule first`,
      },
    ]);
    expect(result).toMatchObject({ started: 2, succeeded: 2, skipped: 1 });
  });

  it("with --max-concurrent 1 (the default), schedules of different state ids due together run one after the other", async () => {
    const { executor, events, scheduler } = setup(
      [schedule("a", "@hourly"), schedule("b", "@hourly")],
      "2026-01-01T10:00:00Z",
      { hold: ["a"] },
    );
    const running = scheduler.runOnce();
    await expect.poll(() => executor.isHeld("a")).toBe(true);
    expect(executor.calls.map((c) => c.schedule)).toEqual(["a"]);
    executor.release("a");
    const result = await running;
    expect(executor.calls.map((c) => c.schedule)).toEqual(["a", "b"]);
    expect(executor.maxRunning).toBe(1);
    expect(of(events, "schedule-skipped")).toEqual([]);
    expect(result).toMatchObject({ started: 2, succeeded: 2 });
  });
});

describe("Scheduler: after downtime", () => {
  it("catches up once, not once per missed time, then keeps to the schedule", async () => {
    const { executor, events, runUntil } = setup([schedule("orders", "@hourly")], "2026-01-04T10:20:00Z", {
      lastRuns: { "dev:tap-orders-to-target-duckdb": "2026-01-01T09:00:04Z" },
    });
    await runUntil("2026-01-04T12:10:00Z");
    expect(executor.calls.map((c) => c.at)).toEqual([
      "2026-01-04T10:20:00.000Z",
      "2026-01-04T11:00:00.000Z",
      "2026-01-04T12:00:00.000Z",
    ]);
    const started = of(events, "schedule-started");
    expect(started.map((e) => e.catchUp)).toEqual([true, false, false]);
    // The due time of the catch-up run is the first time it missed.
    expect(started[0]!.dueAt).toBe("2026-01-01T10:00:00.000Z");
  });

  it("--once runs only what is due: the catch-up of a late schedule, a schedule never run; not one run recently", async () => {
    const { executor, scheduler } = setup(
      [schedule("late", "@daily"), schedule("fresh", "@daily"), schedule("new", "@daily")],
      "2026-01-04T10:00:00Z",
      {
        lastRuns: {
          "dev:tap-late-to-target-duckdb": "2026-01-02T00:00:03Z",
          "dev:tap-fresh-to-target-duckdb": "2026-01-04T00:00:03Z",
        },
      },
    );
    const result = await scheduler.runOnce();
    expect(executor.calls.map((c) => c.schedule)).toEqual(["late", "new"]);
    expect(result).toMatchObject({ started: 2, succeeded: 2 });
  });

  it("@once runs once when its pipeline never ran, and never again", async () => {
    const first = setup([schedule("backfill", "@once")], "2026-01-01T10:00:00Z");
    await first.runUntil("2026-01-03T00:00:00Z");
    expect(first.executor.calls.map((c) => c.at)).toEqual(["2026-01-01T10:00:00.000Z"]);

    const again = setup([schedule("backfill", "@once")], "2026-01-05T10:00:00Z", {
      lastRuns: { "dev:tap-backfill-to-target-duckdb": "2026-01-01T10:00:09Z" },
    });
    expect(await again.scheduler.runOnce()).toMatchObject({ started: 0 });
    expect(again.executor.calls).toEqual([]);
  });
});

describe("Scheduler: stopping", () => {
  it("stop() starts nothing new, aborts the running run and resolves once it has settled", async () => {
    const { executor, events, scheduler } = setup(
      [schedule("a", "* * * * *"), schedule("b", "* * * * *")],
      "2026-01-01T10:00:00Z",
      { hold: ["a"] },
    );
    let settled = false;
    const running = scheduler.run().then((result) => {
      settled = true;
      return result;
    });
    await expect.poll(() => executor.isHeld("a")).toBe(true);
    scheduler.stop();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(settled).toBe(false);
    executor.release("a");
    const result = await running;
    // b was due with a but waiting for the one run slot: it never starts once stopping.
    expect(executor.calls.map((c) => c.schedule)).toEqual(["a"]);
    expect(result).toMatchObject({ started: 1, cancelled: 1, succeeded: 0 });
    expect(of(events, "scheduler-stopping")).toEqual([{ type: "scheduler-stopping", running: ["a"] }]);
    expect(of(events, "schedule-finished")[0]).toMatchObject({ schedule: "a", status: "cancelled" });
  });

  it("reports a failed run and keeps scheduling", async () => {
    const { executor, events, runUntil } = setup([schedule("bad", "@hourly")], "2026-01-01T10:30:00Z", {
      lastRuns: { "dev:tap-bad-to-target-duckdb": "2026-01-01T10:00:01Z" },
      fail: { "tap-bad": "connection refused" },
    });
    const result = await runUntil("2026-01-01T12:30:00Z");
    expect(executor.calls).toHaveLength(2);
    expect(result).toMatchObject({ started: 2, failed: 2 });
    expect(of(events, "schedule-finished")[0]).toMatchObject({
      status: "failed",
      error: "connection refused",
    });
  });
});

describe("Scheduler: configuration", () => {
  it("refuses an unknown --schedule, a project without schedules and a bad --max-concurrent", () => {
    const clock = new FakeClock(0);
    const base = { executor: new RecordingExecutor(clock), now: clock.now, sleep: clock.sleep };
    expect(
      () => new Scheduler({ ...base, project: project([schedule("a", "@daily")]), only: ["b"] }),
    ).toThrow(/no schedule named "b" \(schedules: a\)/);
    expect(() => new Scheduler({ ...base, project: project([]) })).toThrow(ConfigError);
    expect(
      () => new Scheduler({ ...base, project: project([schedule("a", "@daily")]), maxConcurrent: 0 }),
    ).toThrow(/--max-concurrent must be a whole number >= 1/);
  });

  it("--schedule limits the scheduler to the named schedules", async () => {
    const { executor, scheduler } = setup(
      [schedule("a", "@daily"), schedule("b", "@daily")],
      "2026-01-01T10:00:00Z",
      {},
      { only: ["b"] },
    );
    await scheduler.runOnce();
    expect(executor.calls.map((c) => c.schedule)).toEqual(["b"]);
  });
});
