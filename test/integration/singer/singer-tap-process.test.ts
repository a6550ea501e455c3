import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, expect, test } from "vitest";
import { SingerTapProcess } from "../../../src/connectors/external-singer/singer-tap-process.js";

/**
 * Backpressure: while whoever reads an external tap's messages is busy (a loader writing a
 * batch), sluice stops reading the tap's stdout, so the tap blocks on its full pipe instead of
 * its output piling up in sluice's memory.
 */

const FAST_TAP = fileURLToPath(new URL("../../fixtures/singer/fast-tap.py", import.meta.url));
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-fast-tap-"));

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test("a fast tap is held back while its reader is busy, and runs on when it reads again", async () => {
  const progress = path.join(dir, "progress");
  const rows = 2000; // about 20 MB in all
  const tap = new SingerTapProcess({
    name: "fast-tap",
    executable: FAST_TAP,
    config: { rows, progress },
    env: {},
  });
  const written = (): number => Number(fs.existsSync(progress) ? fs.readFileSync(progress, "utf8") : 0);
  const messages = tap.messages({ catalog: { streams: [] }, state: undefined });
  let seen = 0;
  for await (const { message } of messages) {
    if (message.type !== "RECORD") continue;
    seen += 1;
    if (seen === 1) {
      // Busy for a while: the tap may fill the pipe and sluice's read buffer, then it must wait.
      await new Promise((resolve) => setTimeout(resolve, 1500));
      expect(written()).toBeGreaterThan(1);
      expect(written()).toBeLessThan(100);
    }
  }
  expect(seen).toBe(rows);
  expect(written()).toBe(rows);
}, 60_000);

test("stopping a run (SIGTERM to sluice) stops the tap and ends its messages with an error", async () => {
  const progress = path.join(dir, "progress-stopped");
  const controller = new AbortController();
  const tap = new SingerTapProcess({
    name: "fast-tap",
    executable: FAST_TAP,
    config: { rows: 100_000, progress },
    env: {},
  });
  let seen = 0;
  const read = async (): Promise<void> => {
    for await (const { message } of tap.messages({
      catalog: { streams: [] },
      state: undefined,
      signal: controller.signal,
    })) {
      if (message.type === "RECORD" && ++seen === 3) controller.abort();
    }
  };
  await expect(read()).rejects.toThrow("fast-tap was stopped before it finished");
  const at = Number(fs.readFileSync(progress, "utf8"));
  await new Promise((resolve) => setTimeout(resolve, 500));
  expect(Number(fs.readFileSync(progress, "utf8"))).toBe(at);
  expect(at).toBeLessThan(100_000);
}, 60_000);
