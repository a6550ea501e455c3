import { defineConfig } from "vitest/config";
import { LongestFirstSequencer } from "./test/support/longest-first-sequencer.js";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/support/global-setup.ts"],
    testTimeout: 120_000,
    hookTimeout: 180_000,
    // Integration tests share one PostgreSQL server; two workers match the two cores.
    maxWorkers: 2,
    fileParallelism: true,
    sequence: { sequencer: LongestFirstSequencer },
  },
});
