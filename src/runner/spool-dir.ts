import fs from "node:fs";
import { hostname, tmpdir } from "node:os";
import path from "node:path";
import { isProcessGone } from "../state/process-identity.js";

const PREFIX = "sluice-spool-";

/** Where batch files wait between extractor and loader: SLUICE_SPOOL_DIR, else the system's temp folder. */
export function spoolBase(env: NodeJS.ProcessEnv = process.env): string {
  return env.SLUICE_SPOOL_DIR ?? tmpdir();
}

/** A run's own spool folder; its name carries the pid so a later run can tell it was abandoned. */
export function spoolDirFor(base: string, runId: string): string {
  return path.join(base, `${PREFIX}${process.pid}-${runId}`);
}

/**
 * Removes spool folders left by runs whose process died (SIGKILL, out of memory): their batches
 * were never loaded, and the next run reads those rows again from the stored state.
 */
export function sweepAbandonedSpoolDirs(base: string): void {
  let entries: string[];
  try {
    entries = fs.readdirSync(base);
  } catch {
    return;
  }
  for (const name of entries) {
    if (!name.startsWith(PREFIX)) continue;
    const pid = Number(name.slice(PREFIX.length).split("-")[0]);
    if (Number.isSafeInteger(pid) && isProcessGone({ pid, hostname: hostname() })) {
      fs.rmSync(path.join(base, name), { recursive: true, force: true });
    }
  }
}
