import { setTimeout as sleep } from "node:timers/promises";
import { expect } from "vitest";
import type { RunningCli } from "../../support/run-cli.js";
import { FAULT_ITERATIONS, lastEvent, logLines, randomBetween, tally, waitFor } from "./fault-support.js";

/** One run of the loop, as a scenario starts it. */
export interface LoopRun {
  run: RunningCli;
  /** Runs of one kind take about as long as each other (a full copy, a few changes...). */
  kind: string;
  /** A run that never ends by itself (`--follow`). */
  endless?: boolean;
  /** Until a run of this kind has finished unkilled: how long to draw kill delays over (3 s). */
  horizonMs?: number;
}

export interface KillPoint {
  iteration: number;
  kind: string;
  /** Milliseconds after the process started, or after it logged `run-started` or `stream-started`. */
  delayMs: number;
  from: "spawn" | "run-started" | "stream-started";
  /** The last event the run logged before it died. */
  reached: string;
}

/** What a run's kill is timed from: a quarter from spawn, a quarter from run-started, half from the first stream. */
const FROM_EVENTS = ["stream-started", "spawn", "stream-started", "run-started"] as const;

/** Events after which a batch or a state was on its way: kills there test what matters most. */
const MOVING = new Set(["stream-started", "batch-loaded", "state-committed", "changes-committed"]);

/**
 * Starts runs and kills each with SIGKILL at a random moment until `FAULT_ITERATIONS` of them died
 * mid-run; `check` runs after every kill (and after a run that finished before its kill). The kill
 * lands a random while after the process started (a quarter of the time, so that start-up, the
 * lock and planning get kills too), after it logged `run-started` (a quarter) or after its first
 * `stream-started` (half: data moving); the while is drawn up to how long the last run of the
 * same kind took when it was not killed, so kills spread over whole runs.
 */
export async function sigkillLoop(options: {
  start: (iteration: number) => LoopRun | Promise<LoopRun>;
  check: (point: KillPoint, describe: string) => Promise<void>;
}): Promise<KillPoint[]> {
  const horizons = new Map<string, { spawn: number; started: number }>();
  /** How long the last run took from its start to `run-started` (a loaded machine starts slowly). */
  let startupMs = 1000;
  const kills: KillPoint[] = [];
  const finished: string[] = [];
  const maxAttempts = FAULT_ITERATIONS * 3;
  for (let iteration = 1; kills.length < FAULT_ITERATIONS; iteration++) {
    expect(
      iteration,
      `only ${kills.length} of ${FAULT_ITERATIONS} runs were killed mid-run in ${maxAttempts} attempts; finished by themselves: ${finished.join("; ")}`,
    ).toBeLessThanOrEqual(maxAttempts);
    const { run, kind, endless, horizonMs } = await options.start(iteration);
    const initial = horizonMs ?? 3000;
    const horizon = horizons.get(kind) ?? { spawn: startupMs + initial, started: initial };
    const spawnedAt = Date.now();
    // In turn rather than at random: exactly half the runs are timed from `stream-started`, so
    // the count of kills while data moves does not hang on a lucky draw. Delays stay random.
    const from = FROM_EVENTS[iteration % FROM_EVENTS.length]!;
    let startedAt = spawnedAt;
    if (from !== "spawn") {
      await waitFor(run, from, () => run.output().stderr.includes(`"event":"${from}"`));
      startedAt = Date.now();
      if (from === "run-started") startupMs = startedAt - spawnedAt;
    }
    const delayMs = randomBetween(0, from === "spawn" ? horizon.spawn : horizon.started);
    let ended = false;
    // Ended either way: `done` rejects when the process outlived its time limit (and was killed).
    const end = (): void => void (ended = true);
    run.done.then(end, end);
    const until = Date.now() + delayMs;
    while (!ended && Date.now() < until) await sleep(Math.min(5, until - Date.now()));
    run.child.kill("SIGKILL");
    const result = await run.done;
    const point: KillPoint = { iteration, kind, delayMs, from, reached: lastEvent(result.stderr) };
    const describe = `run ${iteration} (${kind}) killed ${delayMs} ms after ${from}, having reached ${point.reached}`;
    if (result.signal === "SIGKILL") {
      kills.push(point);
    } else {
      expect(endless, `${describe}: an endless run ended by itself\n${result.stderr.slice(-3000)}`).not.toBe(
        true,
      );
      expect(result.code, `${describe}: the run failed\n${result.stderr.slice(-3000)}`).toBe(0);
      // Draw the next kills of this kind within how long this run took to its `run-finished`:
      // the process takes a while more to exit (closing DuckDB), and kills landing there would
      // crowd out the kills while data moves.
      const end = runFinishedAt(result.stderr) ?? Date.now();
      finished.push(`${kind} after ${end - spawnedAt} ms`);
      horizons.set(kind, { spawn: end - spawnedAt, started: Math.max(1, end - startedAt) });
    }
    const checkAt = Date.now();
    await options.check(point, describe);
    if (process.env.SLUICE_FAULT_DEBUG) {
      console.log(
        `${describe}: ${checkAt - spawnedAt} ms from start to end, check ${Date.now() - checkAt} ms`,
      );
    }
  }
  const reached = tally(kills.map((k) => k.reached));
  // The kills must have landed while data moved, or the loop proves little.
  expect(kills.filter((k) => MOVING.has(k.reached)).length, reached).toBeGreaterThanOrEqual(
    Math.ceil(FAULT_ITERATIONS / 4),
  );
  console.log(
    `${kills.length} SIGKILLs (${tally(kills.map((k) => k.kind))}); last event before the kill: ${reached}; ${finished.length} runs finished before their kill`,
  );
  return kills;
}

/** When the run logged `run-finished` (its log's clock is this machine's), if it did. */
function runFinishedAt(stderr: string): number | undefined {
  const line = logLines(stderr).find((l) => l.event === "run-finished");
  const at = typeof line?.timestamp === "string" ? Date.parse(line.timestamp) : Number.NaN;
  return Number.isNaN(at) ? undefined : at;
}
