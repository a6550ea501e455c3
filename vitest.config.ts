import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";
import { LongestFirstSequencer } from "./test/support/longest-first-sequencer.js";

const src = fileURLToPath(new URL("./src", import.meta.url));
/**
 * The workspaces (packages/*) run from their sources here, as the product does, with no build:
 * each package exports them under the `source` condition, added to vitest's defaults for Node in
 * the environments that load code: `ssr` (the test files) and `__vitest__` (the global setup).
 */
const sourceFirst = { resolve: { conditions: ["source", "node", "development|production"] } };

export default defineConfig({
  environments: { ssr: sourceFirst, __vitest__: sourceFirst },
  // What a workspace imports of the product (`sluice/dist/<module>.js`) is its source too: the
  // same module instances the tests import.
  resolve: { alias: [{ find: /^sluice\/dist\/(.*)\.js$/, replacement: `${src}/$1.ts` }] },
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
