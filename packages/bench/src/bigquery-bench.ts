import http from "node:http";
import path from "node:path";
import { startBigQueryEmulator } from "@sluice/emulators/bigquery";
import { writeBenchProject } from "./bench-project.js";
import { rowsOf, runSluiceCli } from "./run-sluice-cli.js";

export interface BigqueryBenchResult {
  rows: number;
  seconds: number;
  /** Request bodies the sluice process sent to the BigQuery API (uploads, job and table calls). */
  bytesSent: number;
  peakRssBytes: number;
}

/**
 * The bench's BigQuery line: `sluice run tap-postgres target-bigquery` (FULL_TABLE, a separate
 * process) of the `events` table into the local emulator, through a proxy that counts the bytes
 * the client sends. The emulator runs in this process, so it shares the machine's cores with
 * sluice: the rate is a floor for what the loader does, not BigQuery's ingestion speed.
 */
export async function benchBigquery(options: {
  /** PostgreSQL URL of the bench database. */
  url: string;
  cli: string;
  workDir: string;
}): Promise<BigqueryBenchResult> {
  const emulator = await startBigQueryEmulator({ projectId: "bench-project" });
  const upstream = new URL(emulator.url);
  let bytesSent = 0;
  const proxy = http.createServer((req, res) => {
    const forward = http.request(
      {
        host: upstream.hostname,
        port: upstream.port,
        path: req.url,
        method: req.method,
        headers: req.headers,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    req.on("data", (chunk: Buffer) => (bytesSent += chunk.length));
    forward.on("error", (error) => res.destroy(error));
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  const port = (proxy.address() as { port: number }).port;
  const dir = path.join(options.workDir, "bigquery");
  const env = writeBenchProject(dir, new URL(options.url), {
    select: ["public-events.*"],
    loader: "target-bigquery",
    loaderConfig: [
      "project_id: bench-project",
      "dataset_id: bench",
      `api_endpoint: http://127.0.0.1:${port}`,
    ],
  });
  try {
    const started = Date.now();
    const finished = await runSluiceCli({
      cli: options.cli,
      dir,
      extractor: "tap-postgres",
      loader: "target-bigquery",
      env,
    });
    return {
      rows: rowsOf(finished),
      peakRssBytes: finished.peakRssBytes,
      seconds: (Date.now() - started) / 1000,
      bytesSent,
    };
  } finally {
    await new Promise<void>((resolve) => proxy.close(() => resolve()));
    await emulator.close();
  }
}
