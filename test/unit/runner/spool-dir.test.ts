import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect, test } from "vitest";
import { spoolDirFor, sweepAbandonedSpoolDirs } from "../../../src/runner/spool-dir.js";

test("spool folders of dead runs are removed, those of live runs kept", () => {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), "spool-sweep-"));
  const dead = spawnSync(process.execPath, ["-e", "0"]).pid!;
  const abandoned = path.join(base, `sluice-spool-${dead}-run-a`);
  const live = spoolDirFor(base, "run-b");
  const unrelated = path.join(base, "something-else");
  for (const dir of [abandoned, live, unrelated]) {
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, "batch.csv"), "1,a\n");
  }
  sweepAbandonedSpoolDirs(base);
  expect(fs.existsSync(abandoned)).toBe(false);
  expect(fs.existsSync(live)).toBe(true);
  expect(fs.existsSync(unrelated)).toBe(true);
});
