import { hostname } from "node:os";
import { afterAll, describe, expect, test } from "vitest";
import { StateError } from "../../../src/errors.js";
import { ABANDONED_RUN_ERROR, type RunHistory } from "../../../src/state/run-history.js";
import { deadPid, uniqueStateId } from "./state-store-suite.js";

export interface RunHistoryHarness {
  name: string;
  open(): Promise<RunHistory>;
  /** Rewrites the pid recorded for a run, as if another process had started it. */
  setRunPid(runId: string, pid: number): Promise<void>;
}

let counter = 0;
function uniqueRunId(): string {
  return `run-${process.pid}-${Date.now().toString(36)}-${counter++}`;
}

/** The behaviour every RunHistory must have, run against each real system database. */
export function describeRunHistory(harness: RunHistoryHarness): void {
  describe(`${harness.name} run history`, () => {
    const opened: RunHistory[] = [];
    const open = async (): Promise<RunHistory> => {
      const history = await harness.open();
      opened.push(history);
      return history;
    };
    afterAll(async () => {
      for (const history of opened) await history.close();
    });

    test("start records a running run of this process; finish records its outcome", async () => {
      const history = await open();
      const runId = uniqueRunId();
      const stateId = uniqueStateId("runs");
      const startedAt = new Date("2024-06-01T12:00:00.123Z");
      await history.start({ runId, stateId, extractor: "tap-postgres", loader: "target-duckdb", startedAt });
      expect(await history.get(runId)).toEqual({
        runId,
        stateId,
        extractor: "tap-postgres",
        loader: "target-duckdb",
        startedAt,
        status: "running",
        streams: {},
        pid: process.pid,
        hostname: hostname(),
      });

      const endedAt = new Date("2024-06-01T12:03:04.567Z");
      const streams = {
        "public-orders": { rows: 1_000_000, bytes: 123_456_789, seconds: 12.5 },
        "public-users": { rows: 0, bytes: 0, seconds: 0.01 },
      };
      await history.finish(runId, { status: "success", endedAt, streams, peakRssBytes: 5_000_000_000 });
      const done = await history.get(runId);
      expect(done).toMatchObject({ status: "success", endedAt, streams, peakRssBytes: 5_000_000_000 });
      expect(done?.error).toBeUndefined();

      // Visible from another connection, as `sluice runs` in another process would see it.
      const other = await open();
      expect((await other.get(runId))?.status).toBe("success");
    });

    test("a failed run keeps its error", async () => {
      const history = await open();
      const runId = uniqueRunId();
      await history.start({
        runId,
        stateId: uniqueStateId("runs"),
        extractor: "e",
        loader: "l",
        startedAt: new Date(),
      });
      await history.finish(runId, {
        status: "failed",
        endedAt: new Date(),
        streams: { s: { rows: 3, bytes: 30, seconds: 1 } },
        error: 'column "x" does not exist',
      });
      expect(await history.get(runId)).toMatchObject({
        status: "failed",
        error: 'column "x" does not exist',
      });
    });

    test("list returns the newest runs first, of one state id when asked, up to a limit", async () => {
      const history = await open();
      const stateId = uniqueStateId("runs-list");
      const otherStateId = uniqueStateId("runs-list-other");
      const base = Date.now() - 3_600_000;
      const ids: string[] = [];
      // Started out of order on purpose: list sorts by start time, not by insertion.
      for (const minutes of [2, 0, 3, 1]) {
        const runId = uniqueRunId();
        ids[minutes] = runId;
        await history.start({
          runId,
          stateId,
          extractor: "e",
          loader: "l",
          startedAt: new Date(base + minutes * 60_000),
        });
      }
      const other = uniqueRunId();
      await history.start({
        runId: other,
        stateId: otherStateId,
        extractor: "e",
        loader: "l",
        startedAt: new Date(),
      });

      expect((await history.list({ stateId })).map((r) => r.runId)).toEqual([ids[3], ids[2], ids[1], ids[0]]);
      expect((await history.list({ stateId, limit: 2 })).map((r) => r.runId)).toEqual([ids[3], ids[2]]);
      expect((await history.list({ stateId: otherStateId })).map((r) => r.runId)).toEqual([other]);
      const all = (await history.list()).map((r) => r.runId);
      expect(all).toEqual(expect.arrayContaining([...ids, other] as string[]));
      expect(all.indexOf(other)).toBeLessThan(all.indexOf(ids[3]!));
      expect(await history.list({ stateId: uniqueStateId("never-ran") })).toEqual([]);
      await expect(history.list({ limit: 0 })).rejects.toThrow(/>= 1/);
    });

    test("an unknown run cannot be finished, and a run id cannot start twice", async () => {
      const history = await open();
      const runId = uniqueRunId();
      expect(await history.get(runId)).toBeUndefined();
      await expect(
        history.finish(runId, { status: "success", endedAt: new Date(), streams: {} }),
      ).rejects.toThrow(StateError);
      const run = {
        runId,
        stateId: uniqueStateId("runs"),
        extractor: "e",
        loader: "l",
        startedAt: new Date(),
      };
      await history.start(run);
      await expect(history.start(run)).rejects.toThrow(StateError);
    });

    test("a run whose process died without finishing is shown as failed; a live one stays running", async () => {
      const history = await open();
      const stateId = uniqueStateId("runs-abandoned");
      const dead = uniqueRunId();
      const live = uniqueRunId();
      await history.start({
        runId: dead,
        stateId,
        extractor: "e",
        loader: "l",
        startedAt: new Date(Date.now() - 1000),
      });
      await history.start({ runId: live, stateId, extractor: "e", loader: "l", startedAt: new Date() });
      await harness.setRunPid(dead, await deadPid());

      const listed = await history.list({ stateId });
      expect(listed.map((r) => [r.runId, r.status])).toEqual([
        [live, "running"],
        [dead, "failed"],
      ]);
      expect(listed[1]?.error).toBe(ABANDONED_RUN_ERROR);
      // Stored, not only shown: another reader sees it too.
      const other = await open();
      expect(await other.get(dead)).toMatchObject({ status: "failed", error: ABANDONED_RUN_ERROR });
    });
  });
}
