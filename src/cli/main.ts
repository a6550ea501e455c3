#!/usr/bin/env -S MALLOC_ARENA_MAX=2 node --max-semi-space-size=4
// NOTE: the line above sets what only start-up can set, measured on a 10M-row load into DuckDB
// (peak RSS, 2 cores): V8's young generation grows to ~48 MB under the copy's short-lived buffers
// though the live heap stays ~13 MB (4 MB semi-spaces: about 25 MB less, no slower; 1 MB took
// a few MB more off but decoded CDC changes a quarter slower), and glibc gives each thread
// running DuckDB work an arena of its own (2 arenas: about 20 MB less). `sluice` (npm's bin
// link, the container's /usr/local/bin/sluice) runs through it; `node dist/cli/main.js` does not.
import { runCli } from "./program.js";

process.exitCode = await runCli(process.argv.slice(2));
