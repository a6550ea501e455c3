import { spawn } from "node:child_process";
import path from "node:path";
import pg from "pg";
import { runSluiceCli, type RunFinished } from "./run-sluice-cli.js";
import { writeBenchProject } from "./bench-project.js";

/**
 * The CDC line of `npm run bench`: LOG_BASED from PostgreSQL into DuckDB.
 * - Burst: a table of `updates` rows is copied, then every row is updated in one transaction,
 *   and a batch run applies the changes: changes/s from the run's own timing of the stream, and
 *   the whole command's wall time.
 * - Latency: with `sluice run --follow` streaming, a row is committed and the time until the run
 *   reports the change committed in DuckDB and the state (its `changes-committed` log line) is
 *   taken, several times; the median is reported.
 */
export interface ChangeCaptureFigures {
  updates: number;
  changesPerSecond: number;
  streamSeconds: number;
  commandSeconds: number;
  peakRssBytes: number;
  latencyMs: number[];
}

export async function benchChangeCapture(options: {
  url: string;
  cli: string;
  workDir: string;
  updates: number;
}): Promise<ChangeCaptureFigures> {
  const target = new URL(options.url);
  const dir = path.join(options.workDir, "cdc");
  const env = writeBenchProject(dir, target, {
    select: ["public-cdc_bench.*"],
    // Its own name, so that the slot a killed bench leaves is found and dropped by the next.
    tapConfig: ["logical_slot_name: sluice_bench"],
    tapExtra: ["metadata:", "  public-cdc_bench:", "    replication-method: LOG_BASED"],
    loader: "target-duckdb",
    loaderConfig: ["path: cdc.duckdb"],
  });
  const client = new pg.Client({ connectionString: options.url });
  await client.connect();
  try {
    await client.query(
      "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = 'sluice_bench'",
    );
    await client.query("DROP TABLE IF EXISTS cdc_bench");
    await client.query(
      "CREATE TABLE cdc_bench (id int PRIMARY KEY, amount numeric(12,2) NOT NULL, note text, updated_at timestamptz NOT NULL)",
    );
    await client.query(
      `INSERT INTO cdc_bench SELECT i, i / 100.0, md5(i::text), now() FROM generate_series(1, ${options.updates}) i`,
    );
    const run = (): Promise<RunFinished> =>
      runSluiceCli({ cli: options.cli, dir, extractor: "tap-postgres", loader: "target-duckdb", env });
    await run(); // the initial copy, and the slot

    await client.query("UPDATE cdc_bench SET amount = amount + 1, updated_at = now()");
    const t = Date.now();
    const burst = await run();
    const commandSeconds = (Date.now() - t) / 1000;
    const stream = burst.streams["public-cdc_bench"];
    if (!stream || stream.rows !== options.updates) {
      throw new Error(`the CDC run applied ${stream?.rows ?? 0} changes, expected ${options.updates}`);
    }

    const latencyMs = await followLatency(options.cli, dir, env, client);
    return {
      updates: options.updates,
      changesPerSecond: stream.rows / stream.seconds,
      streamSeconds: stream.seconds,
      commandSeconds,
      peakRssBytes: burst.peakRssBytes,
      latencyMs,
    };
  } finally {
    await client
      .query(
        "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = 'sluice_bench' AND NOT active",
      )
      .catch(() => undefined);
    await client.end();
  }
}

async function followLatency(
  cli: string,
  dir: string,
  env: NodeJS.ProcessEnv,
  client: pg.Client,
): Promise<number[]> {
  const child = spawn(
    cli,
    ["-C", dir, "--log-format", "json", "run", "tap-postgres", "target-duckdb", "--follow"],
    {
      env,
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  let buffered = "";
  // Rows loaded so far, and of those, how many a checkpoint has made durable (state stored).
  let loaded = 0;
  let durable = 0;
  let streaming = false;
  child.stderr.on("data", (d: Buffer) => {
    buffered += d.toString();
    const lines = buffered.split("\n");
    buffered = lines.pop() ?? "";
    for (const line of lines) {
      if (line.includes('"mode":"incremental"')) streaming = true;
      const batch = /"event":"batch-loaded".*?"rows":(\d+)/.exec(line);
      if (batch) loaded += Number(batch[1]);
      if (line.includes('"event":"changes-committed"')) durable = loaded;
    }
  });
  const exited = new Promise<void>((resolve) => child.on("close", () => resolve()));
  const waitFor = async (ready: () => boolean, what: string): Promise<void> => {
    const deadline = Date.now() + 60_000;
    while (!ready()) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`follow run: no ${what}`);
      await new Promise((r) => setTimeout(r, 2));
    }
  };
  const samples: number[] = [];
  try {
    await waitFor(() => streaming, "streaming");
    for (let i = 1; i <= 10; i++) {
      const t = Date.now();
      await client.query("UPDATE cdc_bench SET note = $1 WHERE id = $2", [`latency ${i}`, i]);
      await waitFor(() => durable >= i, "checkpoint");
      samples.push(Date.now() - t);
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    child.kill("SIGTERM");
    await exited;
  }
  return samples;
}
