import { spawn } from "node:child_process";

/** What `sluice run --log-format json` reports in its `run-finished` line. */
export interface RunFinished {
  status: string;
  peakRssBytes: number;
  streams: Record<string, { rows: number; seconds: number }>;
}

/**
 * Runs `sluice run <extractor> <loader>` in its own process (so its peak RSS is its own) and
 * returns its `run-finished` summary; rejects with the tail of its log unless it succeeded.
 * `cli` is run as an installed `sluice` is, through its `#!` line (which sets Node's and
 * glibc's memory options), not as `node <cli>`.
 */
export function runSluiceCli(options: {
  cli: string;
  dir: string;
  extractor: string;
  /** Mapping names run between the extractor and the loader, in order. */
  mappings?: string[];
  loader: string;
  env: NodeJS.ProcessEnv;
}): Promise<RunFinished> {
  const args = ["run", options.extractor, ...(options.mappings ?? []), options.loader];
  return new Promise((resolve, reject) => {
    const child = spawn(options.cli, ["-C", options.dir, "--log-format", "json", ...args], {
      env: options.env,
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => {
      const line = stderr.split("\n").find((l) => l.includes('"event":"run-finished"'));
      const finished = line ? (JSON.parse(line) as RunFinished) : undefined;
      if (code !== 0 || !finished || finished.status !== "success") {
        reject(new Error(`sluice ${args.join(" ")} failed (exit ${code}):\n${stderr.slice(-2000)}`));
        return;
      }
      resolve(finished);
    });
  });
}

/** Rows loaded over all streams of a run. */
export function rowsOf(finished: RunFinished): number {
  return Object.values(finished.streams).reduce((n, s) => n + s.rows, 0);
}
