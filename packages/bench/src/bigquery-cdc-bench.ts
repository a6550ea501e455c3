import { spawn } from "node:child_process";
import http from "node:http";
import path from "node:path";
import pg from "pg";
import { startBigQueryEmulator } from "@sluice/emulators/bigquery";
import { writeBenchProject } from "./bench-project.js";
import { runSluiceCli } from "./run-sluice-cli.js";

/** What one `cdc_method` cost for the same changes, in follow mode. */
export interface BigqueryCdcFigures {
  method: "storage_write" | "merge";
  changes: number;
  /** From the first change committed in PostgreSQL to the last one durable (state stored). */
  seconds: number;
  /** Load, copy and query jobs writing the table during the run: BigQuery's "table modifications". */
  tableModifications: number;
  /** `tableModifications` at the run's pace for a day (BigQuery allows 1,500 per table per day). */
  modificationsPerDay: number;
  /**
   * DML statements on the table (the MERGEs): not table modifications, but each waits its turn
   * (2 run and 20 queue per table); a merge runs at most once per merge_interval in follow mode.
   */
  dmlStatements: number;
  /** Bytes sluice sent: REST request bodies plus Storage Write API rows. */
  bytesSent: number;
  /**
   * Bytes billed for applying the changes, by the emulator's accounting: query jobs'
   * totalBytesBilled (merge), or one background apply of the table (storage_write), which BigQuery
   * runs about once per max_staleness whatever the change rate.
   */
  bytesBilled: number;
}

/**
 * The bench's BigQuery CDC line: `sluice run --follow` of a LOG_BASED table into the emulator,
 * once per `cdc_method`; `transactions` transactions each update `perTransaction` rows, and the
 * run is timed until every change is durable. The emulator runs in this process.
 */
export async function benchBigqueryCdc(options: {
  url: string;
  cli: string;
  workDir: string;
  method: "storage_write" | "merge";
  transactions: number;
  perTransaction: number;
}): Promise<BigqueryCdcFigures> {
  const emulator = await startBigQueryEmulator({ projectId: "bench-project" });
  const upstream = new URL(emulator.url);
  let restBytes = 0;
  let counting = false;
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
    req.on("data", (chunk: Buffer) => {
      if (counting) restBytes += chunk.length;
    });
    forward.on("error", (error) => res.destroy(error));
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  const port = (proxy.address() as { port: number }).port;
  const rows = options.perTransaction * 10;
  const table = `bq_cdc_${options.method}`;
  const slot = `pipelinewise_' || current_database() || '_bq_${options.method}`;
  const dir = path.join(options.workDir, table);
  const env = writeBenchProject(dir, new URL(options.url), {
    select: [`public-${table}.*`],
    tapConfig: [`tap_id: bq_${options.method}`],
    tapExtra: ["metadata:", `  public-${table}:`, "    replication-method: LOG_BASED"],
    loader: "target-bigquery",
    loaderConfig: [
      "project_id: bench-project",
      "dataset_id: bench",
      `api_endpoint: http://127.0.0.1:${port}`,
      `cdc_method: ${options.method}`,
      "hard_delete: true",
    ],
  });
  const client = new pg.Client({ connectionString: options.url });
  await client.connect();
  try {
    await client.query(
      `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '${slot}'`,
    );
    await client.query(`DROP TABLE IF EXISTS ${table}`);
    await client.query(
      `CREATE TABLE ${table} (id int PRIMARY KEY, amount numeric(12,2) NOT NULL, note text, updated_at timestamptz NOT NULL)`,
    );
    // Whole rows in every change: what storage_write needs to send the table's changes to the
    // default stream (without it they are merged, as cdc_method: merge does).
    await client.query(`ALTER TABLE ${table} REPLICA IDENTITY FULL`);
    await client.query(
      `INSERT INTO ${table} SELECT i, i / 100.0, md5(i::text), now() FROM generate_series(1, ${rows}) i`,
    );
    await runSluiceCli({ cli: options.cli, dir, extractor: "tap-postgres", loader: "target-bigquery", env });

    const child = spawn(
      options.cli,
      ["-C", dir, "--log-format", "json", "run", "tap-postgres", "target-bigquery", "--follow"],
      { env, stdio: ["ignore", "ignore", "pipe"] },
    );
    let buffered = "";
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
      const deadline = Date.now() + 300_000;
      while (!ready()) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`follow run: no ${what}`);
        await new Promise((r) => setTimeout(r, 5));
      }
    };
    const changes = options.transactions * options.perTransaction;
    const jobsBefore = new Set((await listJobs(emulator.url)).map((j) => j.jobReference?.jobId));
    let seconds: number;
    const sentBefore = emulator.storageWrite.stats.bytesReceived;
    try {
      await waitFor(() => streaming, "streaming");
      counting = true;
      const started = Date.now();
      for (let t = 0; t < options.transactions; t++) {
        const first = (t * options.perTransaction) % rows;
        await client.query(
          `UPDATE ${table} SET amount = amount + 1, updated_at = now() WHERE id > $1 AND id <= $2`,
          [first, first + options.perTransaction],
        );
      }
      await waitFor(() => durable >= changes, "checkpoint of every change");
      seconds = (Date.now() - started) / 1000;
      counting = false;
    } finally {
      child.kill("SIGTERM");
      await exited;
    }
    let bytesBilled = 0;
    if (options.method === "storage_write") {
      const before = emulator.storageWrite.stats.applyBytesProcessed;
      await emulator.storageWrite.applyPendingChanges();
      bytesBilled = emulator.storageWrite.stats.applyBytesProcessed - before;
    } else {
      for (const job of await listJobs(emulator.url)) {
        if (!jobsBefore.has(job.jobReference?.jobId))
          bytesBilled += Number(job.statistics?.query?.totalBytesBilled ?? 0);
      }
    }
    // After the run: its end merged what had accumulated (merge_interval).
    const runJobs = (await listJobs(emulator.url)).filter((j) => !jobsBefore.has(j.jobReference?.jobId));
    const jobs = runJobs.filter((j) => modifies(j, table)).length;
    const dmlStatements = runJobs.filter((j) => dmlOn(j, table)).length;
    return {
      method: options.method,
      changes,
      seconds,
      tableModifications: jobs,
      modificationsPerDay: (jobs / seconds) * 86_400,
      dmlStatements,
      bytesSent: restBytes + (emulator.storageWrite.stats.bytesReceived - sentBefore),
      bytesBilled,
    };
  } finally {
    await client
      .query(
        `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '${slot}' AND NOT active`,
      )
      .catch(() => undefined);
    await client.end();
    await new Promise<void>((resolve) => proxy.close(() => resolve()));
    await emulator.close();
  }
}

interface JobResource {
  jobReference?: { jobId?: string };
  configuration?: {
    load?: { destinationTable?: { tableId?: string } };
    copy?: { destinationTable?: { tableId?: string } };
    query?: { query?: string; destinationTable?: { tableId?: string } };
  };
  statistics?: { query?: { totalBytesBilled?: string } };
}

async function listJobs(url: string): Promise<JobResource[]> {
  const answer = await fetch(`${url}/bigquery/v2/projects/bench-project/jobs?allUsers=true`);
  return ((await answer.json()) as { jobs?: JobResource[] }).jobs ?? [];
}

/**
 * A table modification of `table` (https://cloud.google.com/bigquery/quotas#standard_tables): a
 * load or copy job writing it, or a query job with it as destination. DML statements are not
 * ("DML statements are excluded and don't count toward the number of table modifications").
 */
function modifies(job: JobResource, table: string): boolean {
  const c = job.configuration;
  if (c?.load) return c.load.destinationTable?.tableId === table;
  if (c?.copy) return c.copy.destinationTable?.tableId === table;
  return c?.query?.destinationTable?.tableId === table;
}

/** A DML statement on `table` (MERGE, UPDATE, ...): not a table modification, but a DML quota. */
function dmlOn(job: JobResource, table: string): boolean {
  const query = job.configuration?.query?.query ?? "";
  return /^\s*(MERGE|UPDATE|DELETE|INSERT|TRUNCATE)\b/i.test(query) && query.includes(`.${table}\``);
}
