import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, test } from "vitest";
import { FileStateStore, stateFileName, stateIdOfFileName } from "../../../src/state/file-state-store.js";
import { describeStateStore, holdLock, uniqueStateId } from "./state-store-suite.js";

const root = mkdtempSync(join(tmpdir(), "sluice-file-state-"));
// A folder that does not exist yet: opening must create it.
const dir = join(root, "state", "dev");
afterAll(() => rmSync(root, { recursive: true, force: true }));

const lockPathOf = (stateId: string): string => join(dir, stateFileName(stateId).replace(/\.json$/, ".lock"));

describeStateStore({
  name: "file",
  open: (options) =>
    FileStateStore.open({ dir, ...(options?.lockTiming ? { lockTiming: options.lockTiming } : {}) }),
  recordedLocks: {
    plant: async (stateId, lock) => {
      const path = lockPathOf(stateId);
      writeFileSync(
        path,
        JSON.stringify({
          token: "planted",
          pid: lock.pid,
          hostname: lock.hostname,
          runId: lock.runId,
          acquiredAt: lock.acquiredAt.toISOString(),
        }),
      );
      utimesSync(path, lock.heartbeatAt, lock.heartbeatAt);
    },
    heartbeatOf: async (stateId) => {
      try {
        return statSync(lockPathOf(stateId)).mtime;
      } catch {
        return undefined;
      }
    },
  },
});

test("a state file holds the Singer state as plain JSON, under a reversible name, and no temp file is left", async () => {
  const store = await FileStateStore.open({ dir });
  const id = "prod:tap-postgres-to-target-duckdb";
  await store.set(id, { bookmarks: { "public-t": { version: 5 } }, currently_syncing: null });
  await store.set(id, { bookmarks: { "public-t": { version: 6 } }, currently_syncing: null });
  const name = "prod%3Atap-postgres-to-target-duckdb.json";
  expect(stateFileName(id)).toBe(name);
  expect(stateIdOfFileName(name)).toBe(id);
  expect(JSON.parse(readFileSync(join(dir, name), "utf8"))).toEqual({
    bookmarks: { "public-t": { version: 6 } },
    currently_syncing: null,
  });
  expect(readdirSync(dir).filter((f) => f.endsWith(".tmp"))).toEqual([]);
});

test("file names escape what a file system would misread, and other files in the folder are ignored", async () => {
  expect(stateFileName("../../etc/passwd")).toBe("%2E.%2F..%2Fetc%2Fpasswd.json");
  expect(stateFileName("a*b")).toBe("a%2Ab.json");
  expect(stateIdOfFileName("%2E.%2F..%2Fetc%2Fpasswd.json")).toBe("../../etc/passwd");
  const store = await FileStateStore.open({ dir });
  writeFileSync(join(dir, "README.txt"), "not state");
  writeFileSync(join(dir, "%E0%A4%A.json"), "{}"); // not decodable: not one of ours
  const listed = (await store.list()).map((e) => e.stateId);
  expect(listed).not.toContain("README.txt");
  expect(listed.some((id) => id.includes("%E0"))).toBe(false);
});

test("a lock file names its holder while held and is gone after release", async () => {
  const store = await FileStateStore.open({ dir });
  const id = uniqueStateId("lockfile");
  const holder = holdLock(store, id, { runId: "run-in-file" });
  await holder.held;
  expect(JSON.parse(readFileSync(lockPathOf(id), "utf8"))).toMatchObject({
    pid: process.pid,
    runId: "run-in-file",
  });
  holder.release();
  await holder.done;
  expect(() => statSync(lockPathOf(id))).toThrow(/ENOENT/);
});

test("an unreadable lock file (a holder killed while writing it) is respected until its mtime goes stale", async () => {
  const store = await FileStateStore.open({ dir });
  const id = uniqueStateId("torn-lock");
  writeFileSync(lockPathOf(id), "{");
  await expect(store.withLock(id, async () => undefined)).rejects.toThrow(/pid 0 on host unknown/);
  const old = new Date(Date.now() - 120_000);
  utimesSync(lockPathOf(id), old, old);
  expect(await store.withLock(id, async () => "taken")).toBe("taken");
});

test("many stores racing for one lock: exactly one holds it at any time", async () => {
  const stores = await Promise.all(Array.from({ length: 6 }, () => FileStateStore.open({ dir })));
  const id = uniqueStateId("race");
  let inside = 0;
  let maxInside = 0;
  let ran = 0;
  await Promise.all(
    stores.map((store) =>
      store.withLock(
        id,
        async () => {
          inside++;
          maxInside = Math.max(maxInside, inside);
          await new Promise((r) => setTimeout(r, 20));
          inside--;
          ran++;
        },
        { waitSeconds: 20 },
      ),
    ),
  );
  expect(ran).toBe(6);
  expect(maxInside).toBe(1);
});
