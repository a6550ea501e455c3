import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import { formatSchemaJson, streamMetadata, type Catalog } from "../../src/protocol/catalog.js";
import { readSingerMessages } from "../../src/protocol/singer-reader.js";
import { SingerWriter } from "../../src/protocol/singer-writer.js";
import { runSingerTap } from "../../src/connectors/singer/singer-tap.js";
import { runSingerTarget } from "../../src/connectors/singer/singer-target.js";
import type { Loader, PluginConfig } from "../../src/connectors/connector.js";
import { DuckdbLoader } from "../../src/connectors/target-duckdb/duckdb-loader.js";
import { PostgresExtractor } from "../../src/connectors/tap-postgres/postgres-extractor.js";
import { runPipeline } from "../../src/runner/run-pipeline.js";
import type { RetryPolicy } from "../../src/runner/retry-policy.js";
import type { RunEvent, RunSummary } from "../../src/runner/run-events.js";
import { SqliteSystemDatabase } from "../../src/state/sqlite-system-database.js";
import type { TestDatabase } from "./pg.js";

/** tap-postgres settings for a test database, with the defaults the project file would add. */
export function tapConfig(db: TestDatabase, extra: PluginConfig = {}): PluginConfig {
  return {
    host: db.host,
    port: db.port,
    user: db.user,
    password: db.password,
    dbname: db.name,
    default_replication_method: "FULL_TABLE",
    batch_size_mb: 64,
    batch_size_rows: 122880,
    connect_timeout: 10,
    ...extra,
  };
}

export function duckdbConfig(file: string, extra: PluginConfig = {}): PluginConfig {
  return {
    path: file,
    table_prefix: "",
    add_metadata_columns: false,
    load_method: "upsert",
    hard_delete: false,
    memory_limit: "64MB",
    ...extra,
  };
}

export function tempDir(prefix = "sluice-test-"): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Marks streams selected (all, or those listed) and sets stream metadata, as `select`/`metadata` would. */
export function selectStreams(
  catalog: Catalog,
  streams: Record<string, Record<string, unknown>> | "all",
): Catalog {
  return {
    streams: catalog.streams.map((s) => {
      const wanted = streams === "all" ? {} : streams[s.tap_stream_id];
      return {
        ...s,
        metadata: s.metadata.map((m) =>
          m.breadcrumb.length === 0
            ? { ...m, metadata: { ...streamMetadata(s), ...(wanted ?? {}), selected: wanted !== undefined } }
            : m,
        ),
      };
    }),
  };
}

/** What a test run of tap-postgres into any loader takes (see `runFromPostgres`). */
export interface TestRunOptions {
  db: TestDatabase;
  workDir: string;
  streams: Record<string, Record<string, unknown>> | "all";
  tap?: PluginConfig;
  fullRefresh?: boolean;
  stateId?: string;
  observer?: (event: RunEvent) => void;
  /** LOG_BASED: stream until `signal` aborts. */
  follow?: boolean;
  signal?: AbortSignal;
  /** Retries of transient failures within the run; default none, as `runPipeline`'s. */
  retry?: RetryPolicy;
}

/**
 * Runs tap-postgres (on `db`) into `loader` in-process, with a SQLite state database in
 * `workDir`: the run a project would make, without the CLI around it.
 */
export async function runFromPostgres(
  options: TestRunOptions & { loader: Loader; loaderName: string },
): Promise<RunSummary> {
  const extractor = new PostgresExtractor(tapConfig(options.db, options.tap));
  const catalog = selectStreams(await extractor.discover(), options.streams);
  const plans = await extractor.plan(catalog);
  let planned = false;
  const system = await SqliteSystemDatabase.open({
    path: path.join(options.workDir, ".sluice", "sluice.db"),
  });
  try {
    return await runPipeline({
      runId: `run-${Date.now()}-${Math.random().toString(36).slice(2, 6)}`,
      stateId: options.stateId ?? `test:tap-postgres-to-${options.loaderName}`,
      extractorName: "tap-postgres",
      loaderName: options.loaderName,
      extractor,
      loader: options.loader,
      // Later calls (a run copying a table again whose columns changed) discover again, as the CLI does.
      plan: async () => {
        if (planned) return extractor.plan(selectStreams(await extractor.discover(), options.streams));
        planned = true;
        return plans;
      },
      stateStore: system.stateStore,
      runHistory: system.runHistory,
      fullRefresh: options.fullRefresh ?? false,
      spoolDir: path.join(options.workDir, ".sluice", "spool", String(Date.now())),
      observer: options.observer ?? (() => undefined),
      ...(options.follow !== undefined ? { follow: options.follow } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.retry ? { retry: options.retry } : {}),
    });
  } finally {
    await system.close();
  }
}

/**
 * The same copy as Meltano makes it with sluice's Singer executables, `sluice tap tap-postgres
 * --catalog ... | sluice target ...`, in-process: the tap's messages are written to a file (the
 * catalog read back from its JSON text, as `--catalog` reads it), then that file is read into
 * `loader`, which is closed at the end. Returns the messages' file.
 */
export async function runThroughSinger(
  options: TestRunOptions & {
    loader: Loader;
    /** Columns left out of the selection (`selected: false`), in every stream. */
    leaveOut?: readonly string[];
  },
): Promise<string> {
  const extractor = new PostgresExtractor(tapConfig(options.db, options.tap));
  const catalog = JSON.parse(
    formatSchemaJson(selectStreams(await extractor.discover(), options.streams)),
  ) as Catalog;
  for (const stream of catalog.streams) {
    for (const entry of stream.metadata) {
      const [kind, column] = entry.breadcrumb;
      if (kind === "properties" && column !== undefined && options.leaveOut?.includes(column)) {
        entry.metadata.selected = false;
      }
    }
  }
  const messagesFile = path.join(options.workDir, `singer-${Date.now()}.jsonl`);
  const out = fs.createWriteStream(messagesFile);
  const writer = new SingerWriter(out, messagesFile);
  await runSingerTap({
    extractor,
    catalog,
    state: undefined,
    writer,
    spoolDir: path.join(options.workDir, ".sluice", "tap-spool", String(Date.now())),
  });
  await writer.flush();
  await new Promise<void>((resolve, reject) =>
    out.end((error?: Error | null) => (error ? reject(error) : resolve())),
  );
  const spoolDir = path.join(options.workDir, ".sluice", "target-spool", String(Date.now()));
  fs.mkdirSync(spoolDir, { recursive: true });
  try {
    await options.loader.test();
    await runSingerTarget(readSingerMessages(fs.createReadStream(messagesFile), { pluginName: "test tap" }), {
      loader: options.loader,
      inputName: "test target",
      spoolDir,
      emitState: async () => undefined,
      maxBatchRows: 100_000,
      maxBatchBytes: 64 * 1024 * 1024,
    });
  } finally {
    await options.loader.close();
  }
  return messagesFile;
}

/** Runs tap-postgres into target-duckdb (`warehouse.duckdb` in `workDir`) in-process. */
export function runToDuckdb(options: TestRunOptions & { target?: PluginConfig }): Promise<RunSummary> {
  const loader = new DuckdbLoader(duckdbConfig("warehouse.duckdb", options.target), {
    projectDir: options.workDir,
  });
  return runFromPostgres({ ...options, loader, loaderName: "target-duckdb" });
}

/** Runs a query on a DuckDB file and returns rows with values as DuckDB prints them (VARCHAR). */
export async function duckdbRows(file: string, sql: string): Promise<Record<string, string | null>[]> {
  const instance = await DuckDBInstance.create(file);
  try {
    const connection = await instance.connect();
    const reader = await connection.runAndReadAll(sql);
    const rows = reader
      .getRowObjectsJS()
      .map((row) =>
        Object.fromEntries(Object.entries(row).map(([k, v]) => [k, v === null ? null : String(v)])),
      );
    connection.closeSync();
    return rows;
  } finally {
    instance.closeSync();
  }
}
