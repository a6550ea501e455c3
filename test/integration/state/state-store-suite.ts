import { spawn } from "node:child_process";
import { hostname } from "node:os";
import { afterAll, describe, expect, test } from "vitest";
import { StateError } from "../../../src/errors.js";
import type { SingerState } from "../../../src/protocol/state.js";
import type { LockTiming } from "../../../src/state/recorded-lock.js";
import type { StateStore } from "../../../src/state/state-store.js";

/** A lock as a process would leave it in a store that keeps lock records (SQLite, files). */
export interface PlantedLock {
  pid: number;
  hostname: string;
  runId?: string;
  acquiredAt: Date;
  heartbeatAt: Date;
}

/** One backend under test. Every `open` reaches the same storage, as two processes would. */
export interface StateStoreHarness {
  name: string;
  open(options?: { lockTiming?: Partial<LockTiming> }): Promise<StateStore>;
  /** Stores that keep lock records: write one directly, and read the heartbeat of the current one. */
  recordedLocks?: {
    plant(stateId: string, lock: PlantedLock): Promise<void>;
    heartbeatOf(stateId: string): Promise<Date | undefined>;
  };
}

let counter = 0;
/** A state id no other test (or earlier run of this file) uses. */
export function uniqueStateId(name: string): string {
  return `test:${name}-${process.pid}-${Date.now().toString(36)}-${counter++}`;
}

/** The pid of a process that existed and has ended, as after a SIGKILL. */
export async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ["-e", ""], { stdio: "ignore" });
  const pid = child.pid;
  if (pid === undefined) throw new Error("could not start a child process");
  await new Promise((resolve) => child.once("exit", resolve));
  expect(() => process.kill(pid, 0)).toThrow(expect.objectContaining({ code: "ESRCH" }));
  return pid;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A promise and its resolver, to hold a lock until the test lets go. */
export function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/** Resolves once `fn` has started running under the lock, so the test knows the lock is held. */
export function holdLock(
  store: StateStore,
  stateId: string,
  options?: { runId?: string },
): { held: Promise<void>; release: () => void; done: Promise<void> } {
  const started = gate();
  const release = gate();
  const done = store.withLock(
    stateId,
    async () => {
      started.open();
      await release.promise;
    },
    options,
  );
  // A failure to acquire would otherwise leave `held` pending forever.
  const held = Promise.race([started.promise, done]);
  return { held, release: release.open, done };
}

/** The behaviour every StateStore must have, run against each real backend. */
export function describeStateStore(harness: StateStoreHarness): void {
  describe(`${harness.name} state store`, () => {
    const opened: StateStore[] = [];
    const open = async (options?: { lockTiming?: Partial<LockTiming> }): Promise<StateStore> => {
      const store = await harness.open(options);
      opened.push(store);
      return store;
    };
    afterAll(async () => {
      for (const store of opened) await store.close();
    });

    test("set then get returns the state as given, unknown fields and big numbers included", async () => {
      const store = await open();
      const id = uniqueStateId("roundtrip");
      const state: SingerState = {
        bookmarks: {
          "public-orders": {
            replication_key: "updated_at",
            replication_key_value: "2024-05-01T10:11:12.123456+00:00",
            version: 1714557072123,
            lsn: "123456789012345678901234567890",
            xmin: Number.MAX_SAFE_INTEGER,
            last_replication_method: "LOG_BASED",
            some_tap_field: { nested: [1, "two", null, true] },
          },
          "public-big": { lsn: 2 ** 64, replication_key_value: -1.5e300 },
        },
        currently_syncing: null,
        meltano_extra: { keep: "me" },
      };
      expect(await store.get(id)).toBeUndefined();
      await store.set(id, state);
      const read = await store.get(id);
      expect(read).toEqual(state);
      expect(read?.bookmarks["public-big"]?.lsn).toBe(18446744073709551616);
      expect(read?.bookmarks["public-orders"]?.lsn).toBe("123456789012345678901234567890");

      await store.set(id, { bookmarks: { other: { version: 2 } } });
      expect(await store.get(id)).toEqual({ bookmarks: { other: { version: 2 } } });
    });

    test("a state that is not JSON is refused before anything is written", async () => {
      const store = await open();
      const id = uniqueStateId("notjson");
      await store.set(id, { bookmarks: { a: { version: 1 } } });
      const bad = { bookmarks: { a: { version: 10n } } } as unknown as SingerState;
      await expect(store.set(id, bad)).rejects.toThrow(StateError);
      expect(await store.get(id)).toEqual({ bookmarks: { a: { version: 1 } } });
    });

    test("clear removes the state and says whether there was one", async () => {
      const store = await open();
      const id = uniqueStateId("clear");
      await store.set(id, { bookmarks: {} });
      expect(await store.clear(id)).toBe(true);
      expect(await store.get(id)).toBeUndefined();
      expect(await store.clear(id)).toBe(false);
      expect((await store.list(id)).map((e) => e.stateId)).toEqual([]);
    });

    test("list returns ids matching a * glob, sorted, with their update time", async () => {
      const store = await open();
      const prefix = uniqueStateId("list").replaceAll(":", "_");
      const ids = [
        `${prefix}/dev:tap-postgres-to-target-duckdb`,
        `${prefix}/dev:tap-mysql-to-target-duckdb`,
        `${prefix}/prod:tap-postgres-to-target-duckdb`,
        `${prefix}/dev:tap-(odd)+[chars]?%_.to-jsonl`,
      ];
      const before = Date.now();
      for (const id of ids) await store.set(id, { bookmarks: {} });

      const all = await store.list(`${prefix}/*`);
      expect(all.map((e) => e.stateId)).toEqual([...ids].sort());
      for (const entry of all) {
        expect(entry.updatedAt).toBeInstanceOf(Date);
        expect(entry.updatedAt.getTime()).toBeGreaterThanOrEqual(before - 2000);
        expect(entry.updatedAt.getTime()).toBeLessThanOrEqual(Date.now() + 2000);
      }
      expect((await store.list(`${prefix}/dev:*`)).map((e) => e.stateId)).toEqual([ids[3], ids[1], ids[0]]);
      expect((await store.list(`${prefix}/*:tap-postgres-*`)).map((e) => e.stateId)).toEqual([
        ids[0],
        ids[2],
      ]);
      // Characters special to regular expressions, LIKE or GLOB match only themselves.
      expect((await store.list(`${prefix}/dev:tap-(odd)+[chars]?%_.to-*`)).map((e) => e.stateId)).toEqual([
        ids[3],
      ]);
      expect(await store.list(`${prefix}/dev:tap-_odd*`)).toEqual([]);
      expect(await store.list(`${prefix}/dev`)).toEqual([]);
      const everything = (await store.list()).map((e) => e.stateId);
      expect(everything).toEqual(expect.arrayContaining(ids));
    });

    test("state ids with slashes, dots, spaces and non-ASCII characters are kept apart and listed as given", async () => {
      const store = await open();
      const prefix = uniqueStateId("odd");
      const ids = [`${prefix}/../x`, `${prefix} a b`, `${prefix}:é ü 日本`, `${prefix}*star`, `.${prefix}`];
      for (const [i, id] of ids.entries()) await store.set(id, { bookmarks: { s: { version: i } } });
      for (const [i, id] of ids.entries())
        expect(await store.get(id)).toEqual({ bookmarks: { s: { version: i } } });
      const listed = (await store.list()).map((e) => e.stateId);
      expect(listed).toEqual(expect.arrayContaining(ids));
    });

    test("a stored state survives closing and reopening the store", async () => {
      const id = uniqueStateId("reopen");
      const first = await harness.open();
      await first.set(id, { bookmarks: { t: { version: 42, lsn: "0/16B3748" } } });
      await first.close();
      const second = await open();
      expect(await second.get(id)).toEqual({ bookmarks: { t: { version: 42, lsn: "0/16B3748" } } });
    });

    test("withLock returns what fn returns and lets the next holder in afterwards", async () => {
      const store = await open();
      const id = uniqueStateId("lock-value");
      expect(await store.withLock(id, async () => 7)).toBe(7);
      expect(await store.withLock(id, async () => "again")).toBe("again");
    });

    test("a second holder is refused at once, with a message naming the run that holds the lock", async () => {
      const a = await open();
      const b = await open();
      const id = uniqueStateId("lock-refuse");
      const holder = holdLock(a, id, { runId: "run-holding-1" });
      await holder.held;
      let ran = false;
      const refusal = b.withLock(id, async () => {
        ran = true;
      });
      await expect(refusal).rejects.toThrow(StateError);
      const message = await refusal.then(
        () => "",
        (e: unknown) => (e as Error).message,
      );
      expect(message).toContain(id);
      expect(message).toContain("run-holding-1");
      expect(message).toContain(`pid ${process.pid}`);
      expect(message).toContain(hostname());
      expect(message).toMatch(/since \d{4}-\d\d-\d\dT/);
      // The same store instance is refused too: the lock is per state id, not per connection.
      await expect(a.withLock(id, async () => undefined)).rejects.toThrow(/is locked by run run-holding-1/);
      expect(ran).toBe(false);
      holder.release();
      await holder.done;
      // Another state id was never blocked.
      expect(await b.withLock(uniqueStateId("lock-other"), async () => "free")).toBe("free");
    });

    test("a second holder that may wait gets the lock when the first releases it, not before", async () => {
      const a = await open();
      const b = await open();
      const id = uniqueStateId("lock-wait");
      const events: string[] = [];
      const holder = holdLock(a, id);
      await holder.held;
      setTimeout(() => {
        events.push("first released");
        holder.release();
      }, 600);
      const started = Date.now();
      await b.withLock(
        id,
        async () => {
          events.push("second ran");
        },
        { waitSeconds: 10 },
      );
      expect(events).toEqual(["first released", "second ran"]);
      expect(Date.now() - started).toBeGreaterThanOrEqual(500);
      await holder.done;
    });

    test("a holder that waits too little gives up after its wait, naming the holder", async () => {
      const a = await open();
      const b = await open();
      const id = uniqueStateId("lock-timeout");
      const holder = holdLock(a, id, { runId: "slow-run" });
      await holder.held;
      const started = Date.now();
      await expect(b.withLock(id, async () => undefined, { waitSeconds: 1 })).rejects.toThrow(
        /locked by run slow-run .*gave up after waiting 1 s/,
      );
      expect(Date.now() - started).toBeGreaterThanOrEqual(900);
      holder.release();
      await holder.done;
    });

    test("the lock is released when fn throws, and fn's error is what withLock throws", async () => {
      const a = await open();
      const b = await open();
      const id = uniqueStateId("lock-throw");
      const failure = new Error("extractor broke");
      await expect(
        a.withLock(id, async () => {
          throw failure;
        }),
      ).rejects.toBe(failure);
      expect(await b.withLock(id, async () => "next")).toBe("next");
    });

    // PostgreSQL keeps no lock records (its locks die with the session); its own file tests that.
    const locks = harness.recordedLocks;
    if (locks === undefined) return;
    describe("recorded locks", () => {
      test("a lock left by a dead process of this host is taken over", async () => {
        const store = await open();
        const id = uniqueStateId("lock-dead-pid");
        const now = new Date();
        await locks.plant(id, {
          pid: await deadPid(),
          hostname: hostname(),
          acquiredAt: now,
          heartbeatAt: now,
        });
        expect(await store.withLock(id, async () => "taken over")).toBe("taken over");
        // And it is ours now: released normally, free for the next one.
        expect(await store.withLock(id, async () => "free again")).toBe("free again");
      });

      test("a lock of a live process with a fresh heartbeat is respected, naming that process", async () => {
        const store = await open();
        const id = uniqueStateId("lock-live-pid");
        const acquiredAt = new Date(Date.now() - 3_600_000);
        // pid 1 exists on every Linux host (and in every container).
        await locks.plant(id, {
          pid: 1,
          hostname: hostname(),
          runId: "other-run",
          acquiredAt,
          heartbeatAt: new Date(),
        });
        await expect(store.withLock(id, async () => undefined)).rejects.toThrow(
          `locked by run other-run (pid 1 on host ${hostname()}, since ${acquiredAt.toISOString()}`,
        );
      });

      test("a lock of another host is respected while its heartbeat is fresh (its pid cannot be checked)", async () => {
        const store = await open();
        const id = uniqueStateId("lock-other-host");
        const now = new Date();
        await locks.plant(id, {
          pid: await deadPid(),
          hostname: "some-other-host",
          acquiredAt: now,
          heartbeatAt: now,
        });
        await expect(store.withLock(id, async () => undefined)).rejects.toThrow(/on host some-other-host/);
      });

      test("a lock whose heartbeat is older than 60 s is taken over, even from a live or remote process", async () => {
        const store = await open();
        const old = new Date(Date.now() - 61_000);
        const live = uniqueStateId("lock-stale-live");
        await locks.plant(live, { pid: 1, hostname: hostname(), acquiredAt: old, heartbeatAt: old });
        expect(await store.withLock(live, async () => "mine")).toBe("mine");
        const remote = uniqueStateId("lock-stale-remote");
        await locks.plant(remote, {
          pid: 4242,
          hostname: "some-other-host",
          acquiredAt: old,
          heartbeatAt: old,
        });
        expect(await store.withLock(remote, async () => "mine too")).toBe("mine too");
        // 59 s is not stale yet.
        const recent = uniqueStateId("lock-not-stale");
        const notYet = new Date(Date.now() - 59_000);
        await locks.plant(recent, { pid: 1, hostname: hostname(), acquiredAt: notYet, heartbeatAt: notYet });
        await expect(store.withLock(recent, async () => undefined)).rejects.toThrow(StateError);
      });

      test("the holder refreshes its heartbeat while fn runs, so a long run is not taken over", async () => {
        const timing = { heartbeatMs: 100, staleAfterMs: 600 };
        const a = await open({ lockTiming: timing });
        const b = await open({ lockTiming: timing });
        const id = uniqueStateId("lock-heartbeat");
        const holder = holdLock(a, id, { runId: "long-run" });
        await holder.held;
        const first = await locks.heartbeatOf(id);
        expect(first).toBeInstanceOf(Date);
        // Well past staleAfterMs: without heartbeats the lock would be stale and b would take it.
        await sleep(1_500);
        const later = await locks.heartbeatOf(id);
        expect(later!.getTime()).toBeGreaterThan(first!.getTime() + 500);
        expect(Date.now() - later!.getTime()).toBeLessThan(600);
        await expect(b.withLock(id, async () => undefined)).rejects.toThrow(/locked by run long-run/);
        holder.release();
        await holder.done;
        expect(await locks.heartbeatOf(id)).toBeUndefined();
        expect(await b.withLock(id, async () => "after")).toBe("after");
      });
    });
  });
}
