import fs from "node:fs";
import path from "node:path";
import { BaseSequencer, type TestSpecification } from "vitest/node";

/**
 * Starts the test files that take longest first, so that two workers finish together instead of
 * one running a 90 s fault loop alone at the end. Vitest orders by the durations it cached on
 * the last run, but CI starts from a fresh clone without that cache, and then it orders by file
 * size, which puts the long loops late. `test-durations.json` holds seconds per file from a
 * quiet run (`npx vitest run --reporter=json --outputFile=...`); files not in it count as 10 s.
 * It is only an order: a stale figure makes the run slower, never wrong.
 */
const durations: Record<string, number> = JSON.parse(
  fs.readFileSync(new URL("./test-durations.json", import.meta.url), "utf8"),
);
const UNKNOWN_SECONDS = 10;

export class LongestFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const root = this.ctx.config.root;
    const seconds = (file: TestSpecification): number =>
      durations[path.relative(root, file.moduleId).split(path.sep).join("/")] ?? UNKNOWN_SECONDS;
    return [...files].sort((a, b) => seconds(b) - seconds(a));
  }
}
