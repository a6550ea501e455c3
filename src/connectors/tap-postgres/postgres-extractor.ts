import os from "node:os";
import { z } from "zod";
import { parseSettings } from "../parse-settings.js";
import { builtinIdentity, type PluginIdentity } from "../plugin-identity.js";
import type pg from "pg";
import { to as copyTo } from "pg-copy-streams";
import { ConfigError, ConnectionError, DataError, PipelineError, SluiceError } from "../../errors.js";
import type { Catalog } from "../../protocol/catalog.js";
import type { StreamBookmark } from "../../protocol/state.js";
import type {
  ChangeCapturePipeline,
  ChangeCaptureSlotStatus,
  ChangeCaptureStatus,
  ChangeEvent,
  ChangeReadOptions,
  ExtractSession,
  Extractor,
  PluginConfig,
  StreamEvent,
  StreamPlan,
} from "../connector.js";
import { spoolBatches, type SpooledBatch } from "../batch-spooler.js";
import { mergeConcurrently } from "../merge-concurrently.js";
import { Semaphore } from "../semaphore.js";
import {
  connectPostgres,
  describePrivilegeError,
  EXTRACT_SESSION_SETTINGS,
  readPrivilegeProblems,
  quoteIdent,
  quoteLiteral,
  postgresConnectionSettings,
} from "./postgres-connection.js";
import { catalogOf, discoverTables, type DiscoveredTable } from "./postgres-discovery.js";
import { classifyPostgresError, postgresError } from "./postgres-errors.js";
import {
  changeCaptureSlots,
  checkLogicalReplication,
  teardownLogicalReplication,
} from "./cdc/logical-replication-setup.js";
import { publicationNameFor, slotNameFor, slotNameProblem } from "./cdc/replication-slot-name.js";
import { formatLsn } from "./cdc/replication-message.js";
import {
  LogicalReplicationSession,
  type LogicalPlan,
  type LogicalSnapshot,
} from "./cdc/logical-replication-session.js";
import {
  identityChange,
  identityKey,
  readTableIdentities,
  recordedIdentity,
  withIdentity,
  type TableIdentity,
} from "./cdc/table-identity.js";
import { tapPostgresSettings } from "./postgres-settings.js";
import { createPostgresVerifier } from "./postgres-verifier.js";
import type { StreamVerifier } from "../../verify/stream-verifier.js";
import { wireExpression } from "./postgres-types.js";
import { bookmarkValue, incrementalQueries, type CopyDialect } from "./postgres-incremental.js";
import { planStreams, type PostgresStreamPlan } from "./postgres-stream-plans.js";

/** tap-postgres's settings as the extractor uses them (defaults: postgres-settings.ts). */
const tapPostgresConfig = postgresConnectionSettings.extend({
  filter_schemas: z.array(z.string()).optional(),
  default_replication_method: z.enum(["FULL_TABLE", "INCREMENTAL", "LOG_BASED"]),
  max_parallel_streams: z.number().int().positive().optional(),
  split_table_min_mb: z.number().int().nonnegative(),
  batch_size_mb: z.number().int().positive(),
  batch_size_rows: z.number().int().positive(),
  max_run_seconds: z.number().int().nonnegative(),
  logical_poll_total_seconds: z.number().int().nonnegative(),
  break_at_end_lsn: z.boolean(),
  logical_commit_seconds: z.number().int().nonnegative(),
  logical_truncate: z.enum(["apply", "fail"]),
  logical_slot_lag_warn_mb: z.number().int().nonnegative(),
  tap_id: z.string().optional(),
  logical_slot_name: z
    .string()
    .optional()
    .superRefine((name, context) => {
      const problem = name === undefined ? undefined : slotNameProblem(name);
      if (problem) context.addIssue({ code: "custom", message: `${problem}; choose another name` });
    }),
  logical_publication: z.string().optional(),
});

/** The settings, and the plugin they belong to (named in connection errors). */
type TapPostgresConfig = z.infer<typeof tapPostgresConfig> & { plugin: PluginIdentity };

/**
 * tap-postgres, built in: discovery from pg_catalog, FULL_TABLE as one `COPY (SELECT ...) TO
 * STDOUT` per table inside a read-only REPEATABLE READ snapshot shared by the run, INCREMENTAL as
 * the same COPY filtered on `key >= bookmark` and ordered by the key.
 */
export class PostgresExtractor implements Extractor {
  private readonly config: TapPostgresConfig;
  private tables: Map<string, DiscoveredTable> | undefined;

  constructor(config: PluginConfig, plugin: PluginIdentity = builtinIdentity("tap-postgres")) {
    // Defaults first, so a config built in code (tests, `sluice tap`) behaves as a project's.
    const defaults = Object.fromEntries(
      tapPostgresSettings.filter((s) => s.default !== undefined).map((s) => [s.name, s.default]),
    );
    this.config = {
      ...parseSettings(plugin.name, tapPostgresConfig, { ...defaults, ...config }),
      plugin,
    };
  }

  get maxParallelStreams(): number {
    return Math.max(1, this.config.max_parallel_streams ?? os.availableParallelism());
  }

  async test(plans?: StreamPlan[]): Promise<void> {
    const client = await connectPostgres(this.config, "sluice test");
    try {
      await client.query("SELECT 1");
      // Every planned table must be readable, whatever its method: say which GRANT is missing now,
      // not after other tables were loaded.
      const readable = await readPrivilegeProblems(
        client,
        this.config.user,
        (plans ?? []).map((p) => (p as PostgresStreamPlan).table),
      );
      if (readable.length > 0) throw new ConfigError(readable);
      const logical = (plans ?? []).filter((p) => p.replicationMethod === "LOG_BASED") as LogicalPlan[];
      if (logical.length > 0) {
        // Without a pipeline: the slot a run without a state id would read (see slotNameFor).
        // NOTE: unless logical_slot_name names it, a run reads the slot of its state id, not that
        // one: pipelinewise-tap-postgres's own (wal2json) while a project moves over is no problem.
        const slot = slotNameFor(this.config);
        const problems = await checkLogicalReplication(
          client,
          this.config,
          logical.map((p) => p.table),
          slot.name,
          { checkExistingSlot: slot.rule === "setting" },
        );
        if (problems.length > 0) throw new ConfigError(problems.map((p) => `LOG_BASED: ${p}`));
      }
    } finally {
      await client.end();
    }
  }

  verifier(): StreamVerifier {
    return createPostgresVerifier(this.config);
  }

  async discover(): Promise<Catalog> {
    const client = await connectPostgres(this.config, "sluice discover");
    try {
      const tables = await discoverTables(client, this.config.filter_schemas);
      this.tables = new Map(tables.map((t) => [t.streamId, t]));
      return catalogOf(tables, this.config.dbname);
    } catch (error) {
      throw postgresError(error, `discovering the tables of database "${this.config.dbname}"`);
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  async plan(catalog: Catalog): Promise<StreamPlan[]> {
    if (!this.tables) await this.discover();
    return planStreams(catalog, this.tables!, this.config);
  }

  async open(options: {
    spoolDir: string;
    plans?: StreamPlan[];
    bookmarks?: Record<string, StreamBookmark>;
    csvQuote?: string;
    copyText?: boolean;
    pipeline?: Omit<ChangeCapturePipeline, "bookmarks">;
  }): Promise<ExtractSession> {
    if (!this.tables) await this.discover();
    const session = new PostgresExtractSession(
      this.config,
      options.spoolDir,
      this.maxParallelStreams,
      options.copyText === true
        ? { format: "copy-text" }
        : options.csvQuote !== undefined
          ? { quote: options.csvQuote }
          : {},
    );
    try {
      await session.start(
        (options.plans ?? []).filter((p) => p.replicationMethod === "LOG_BASED") as LogicalPlan[],
        options.bookmarks ?? {},
        slotNameFor(this.config, { ...options.pipeline, bookmarks: options.bookmarks ?? {} }).name,
      );
    } catch (error) {
      await session.close();
      // Setting up the snapshot, the slot or the publication; a server going away meanwhile is
      // as transient here as mid-COPY.
      throw postgresError(error, "opening a read session");
    }
    return session;
  }

  async changeCaptureStatus(pipelines: ChangeCapturePipeline[]): Promise<ChangeCaptureStatus> {
    const client = await connectPostgres(this.config, "sluice cdc status");
    try {
      // Which pipeline reads which slot, by the rule a run of each would follow.
      const readers = new Map<string, string[]>();
      for (const pipeline of pipelines) {
        const { name } = slotNameFor(this.config, pipeline);
        readers.set(name, [...(readers.get(name) ?? []), ...(pipeline.stateId ? [pipeline.stateId] : [])]);
      }
      const configured = this.config.logical_slot_name;
      const found = await changeCaptureSlots(client, [
        ...readers.keys(),
        ...(configured ? [configured] : []),
      ]);
      // Slots that exist, and the configured one even when it does not (the next run creates it).
      const names = [...new Set([...found.keys(), ...(configured ? [configured] : [])])].sort();
      const slots = names.map((slot): ChangeCaptureSlotStatus => {
        const status = found.get(slot);
        return {
          slot,
          exists: status !== undefined,
          stateIds: readers.get(slot) ?? [],
          publication: publicationNameFor(this.config, slot).name,
          ...(status
            ? {
                active: status.active,
                lost: status.lost,
                retainedBytes: status.retainedBytes,
                ...(status.confirmedFlush !== undefined
                  ? { confirmedPosition: formatLsn(status.confirmedFlush) }
                  : {}),
              }
            : {}),
        };
      });
      return { slots };
    } finally {
      await client.end();
    }
  }

  async teardownChangeCapture(pipeline: ChangeCapturePipeline = {}): Promise<string[]> {
    const client = await connectPostgres(this.config, "sluice cdc teardown");
    try {
      return await teardownLogicalReplication(client, this.config, slotNameFor(this.config, pipeline).name);
    } finally {
      await client.end();
    }
  }

  async close(): Promise<void> {
    this.tables = undefined;
  }
}

/**
 * One read-only REPEATABLE READ transaction whose snapshot every stream of the run reads, so that
 * tables copied one after another (or in parallel, on connections importing the snapshot) are
 * consistent with each other.
 */
class PostgresExtractSession implements ExtractSession {
  private readonly idle: pg.Client[] = [];
  private readonly all = new Set<pg.Client>();
  private snapshotId: string | undefined;
  private nextSequence = 0;
  private logical: LogicalReplicationSession | undefined;
  /** Set by `start` when LOG_BASED streams are planned (see `ExtractSession.replicationSlot`). */
  replicationSlot: string | undefined;
  private logicalSnapshot: LogicalSnapshot | undefined;
  /** One place per COPY running at once, whether of whole tables or parts of one. */
  private readonly copySlots: Semaphore;

  constructor(
    private readonly config: TapPostgresConfig,
    private readonly spoolDir: string,
    private readonly parallelism: number,
    private readonly dialect: CopyDialect,
  ) {
    this.copySlots = new Semaphore(parallelism);
  }

  /**
   * Takes the run's snapshot: the replication slot's when LOG_BASED streams need an initial
   * copy (so copy and changes meet exactly), else one exported from a fresh transaction.
   */
  async start(
    logicalPlans: LogicalPlan[],
    bookmarks: Record<string, StreamBookmark>,
    slotName: string,
  ): Promise<void> {
    if (logicalPlans.length > 0) {
      this.logical = new LogicalReplicationSession(
        this.config,
        slotName,
        this.allocateSequence,
        this.spoolDir,
      );
      this.replicationSlot = slotName;
      this.logicalSnapshot = await this.logical.prepare(logicalPlans, bookmarks);
      if (this.logicalSnapshot) {
        this.snapshotId = this.logicalSnapshot.snapshotName;
        this.idle.push(await this.connect());
        return;
      }
    }
    const client = await this.connect();
    this.snapshotId = (await client.query<{ id: string }>("SELECT pg_export_snapshot() AS id")).rows[0]?.id;
    this.idle.push(client);
  }

  private async connect(): Promise<pg.Client> {
    const client = await connectPostgres(this.config, "sluice extract");
    this.all.add(client);
    try {
      await client.query(EXTRACT_SESSION_SETTINGS);
      await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
      if (this.snapshotId !== undefined)
        await client.query(`SET TRANSACTION SNAPSHOT ${quoteLiteral(this.snapshotId)}`);
    } catch (error) {
      await this.discard(client);
      throw postgresError(error, "joining the run's snapshot");
    }
    return client;
  }

  private async acquire(): Promise<pg.Client> {
    return this.idle.pop() ?? (await this.connect());
  }

  private async discard(client: pg.Client): Promise<void> {
    this.all.delete(client);
    await client.end().catch(() => undefined);
  }

  /** `_sdc_sequence` bases: microseconds since the epoch, never reused within the process. */
  private allocateSequence = (rows: number): number => {
    const base = Math.max(Date.now() * 1000, this.nextSequence);
    this.nextSequence = base + rows;
    return base;
  };

  async *read(
    plan: StreamPlan,
    bookmark: StreamBookmark | undefined,
    signal: AbortSignal,
  ): AsyncIterable<StreamEvent> {
    const { table } = plan as PostgresStreamPlan;
    const columns = plan.schema.columns;
    const logical = plan.replicationMethod === "LOG_BASED";
    // A LOG_BASED stream is copied only when it has no position yet (or its slot was lost);
    // otherwise all it needs comes from `readChanges`.
    if (logical && !this.logicalSnapshot?.streamsToCopy.has(plan.schema.streamId)) return;
    const byName = new Map(table.columns.map((c) => [c.name, c]));
    const select = columns
      .map((c) => `${wireExpression(quoteIdent(c.name), byName.get(c.name)!.pg)}`)
      .join(", ");
    const from = `${quoteIdent(table.schemaName)}.${quoteIdent(table.tableName)}`;
    let sql: string;
    let version: number;
    let keyIndex = -1;
    /** INCREMENTAL: the rows no bookmark can place, read after the ordered ones on every run. */
    let unplaceable: { sql: string; key: string } | undefined;
    const warnings: string[] = [];
    /** INCREMENTAL: the table as this run sees it, recorded in its bookmarks. */
    let identity: TableIdentity | undefined;
    /** INCREMENTAL: the table changed so that rows read earlier no longer equal the source's. */
    let rereading = false;
    if (plan.replicationMethod === "INCREMENTAL" && plan.replicationKey !== undefined) {
      const key = byName.get(plan.replicationKey)!;
      keyIndex = columns.findIndex((c) => c.name === key.name);
      // NOTE: a bookmark says which rows were read, not that they still hold what was read: a
      // column retyped (values converted by the server's rules), renamed, or added with a default
      // changed rows whose replication key did not move. Such a table is read again whole, into
      // a table that replaces the warehouse's (the same rule as LOG_BASED's, table-identity.ts).
      identity = await this.identityInSnapshot(table);
      const recorded = recordedIdentity(bookmark);
      const drift = recorded && identity ? identityChange(recorded, identity) : undefined;
      if (drift !== undefined) {
        rereading = true;
        warnings.push(
          `${plan.schema.streamId}: ${drift}; reading the whole table again (it replaces the warehouse table when the read ends)`,
        );
      }
      const queries = incrementalQueries({
        streamId: plan.schema.streamId,
        key,
        bookmark: rereading ? undefined : bookmark,
        select,
        from,
      });
      sql = queries.ordered;
      if (queries.unplaceable) unplaceable = { sql: queries.unplaceable, key: key.name };
      warnings.push(...queries.warnings);
      version = bookmark?.version ?? Date.now();
    } else {
      sql = `SELECT ${select} FROM ${from}`;
      version = Date.now();
    }
    // An ordered (INCREMENTAL) read is one COPY; a whole-table read of a large table is cut into
    // row ranges read at once, merged as their batches come.
    const parts = keyIndex >= 0 ? [sql] : await this.splitIntoParts(table, sql);
    yield {
      type: "begin",
      mode: keyIndex >= 0 && !rereading ? "incremental" : "replace",
      version,
      distinctKeys: true,
      parts: parts.length,
    };
    const stopParts = new AbortController();
    const stop = (): void => stopParts.abort();
    signal.addEventListener("abort", stop, { once: true });
    // A stop that came while this generator waited (before the listener) must not be missed.
    if (signal.aborted) stop();
    let last: StreamBookmark | undefined;
    for (const message of warnings) yield { type: "warning", message };
    try {
      const batches = mergeConcurrently(
        parts.map((part) => this.copyPart(plan, table, part, stopParts.signal)),
        stop,
      );
      for await (const { batch, lastRow } of batches) {
        if (keyIndex >= 0) {
          last = withIdentity(
            {
              replication_key: plan.replicationKey,
              replication_key_value: bookmarkValue(lastRow, keyIndex, plan, this.dialect),
              version,
              last_replication_method: "INCREMENTAL",
            },
            identity,
          );
        }
        // A table read again fills a staging table: no bookmark before it is swapped in (a run
        // stopped halfway must not leave a bookmark the warehouse table has not reached).
        yield { type: "batch", batch, ...(last && !rereading ? { bookmark: last } : {}) };
      }
      if (unplaceable) {
        // After the ordered rows, so the bookmark only ever holds a value `>=` can continue from.
        let rows = 0;
        for await (const { batch } of this.copyPart(plan, table, unplaceable.sql, stopParts.signal)) {
          rows += batch.rowCount;
          yield { type: "batch", batch, ...(last && !rereading ? { bookmark: last } : {}) };
        }
        if (rows > 0) {
          yield {
            type: "warning",
            message: `${plan.schema.streamId}: ${rows} row(s) have a replication key ${unplaceable.key} that no bookmark can order (NULL, infinity or NaN); they are read on every run (an append-only table gets them again each time). Give them a value, or choose another replication-key`,
          };
        }
      }
    } finally {
      signal.removeEventListener("abort", stop);
    }
    if (plan.replicationMethod === "INCREMENTAL") {
      const unchanged = rereading
        ? { version, last_replication_method: "INCREMENTAL" }
        : { ...bookmark, version, last_replication_method: "INCREMENTAL" };
      yield { type: "end", bookmark: last ?? withIdentity(unchanged, identity) };
    } else if (logical) {
      // Changes committed from the snapshot's position on are the stream's from now; the
      // table's identity as the copy saw it tells later runs whether changes can still follow it.
      yield {
        type: "end",
        bookmark: withIdentity(
          {
            version,
            lsn: Number(this.logicalSnapshot!.position),
            last_replication_method: "LOG_BASED",
          },
          await this.identityInSnapshot(table),
        ),
      };
    } else {
      yield { type: "end", bookmark: { version, last_replication_method: "FULL_TABLE" } };
    }
  }

  /**
   * One `SELECT` per part of the table: the table's pages cut into `parallelism` ranges of row
   * locations (ctid), when it is a plain table larger than `split_table_min_mb`. A TID range scan
   * reads only its pages (PostgreSQL 14 and later); the last range is open, so pages the table
   * gained after its size was read are still covered. All parts read the run's snapshot.
   */
  private async splitIntoParts(table: DiscoveredTable, sql: string): Promise<string[]> {
    const minBytes = this.config.split_table_min_mb * 1024 * 1024;
    if (this.parallelism < 2 || minBytes <= 0 || table.kind !== "table") return [sql];
    const client = await this.acquire();
    let pages: number;
    try {
      const name = quoteLiteral(`${quoteIdent(table.schemaName)}.${quoteIdent(table.tableName)}`);
      const result = await client.query<{ bytes: string; block: string }>(
        `SELECT pg_relation_size(${name}::regclass) AS bytes, current_setting('block_size') AS block`,
      );
      const bytes = Number(result.rows[0]!.bytes);
      if (bytes <= minBytes) {
        this.idle.push(client);
        return [sql];
      }
      pages = Math.ceil(bytes / Number(result.rows[0]!.block));
    } catch (error) {
      // A failed statement aborts the snapshot's transaction: the connection is of no more use.
      await this.discard(client);
      throw describeReadError(error, table, this.config.user);
    }
    this.idle.push(client);
    const bounds = Array.from({ length: this.parallelism - 1 }, (_, i) =>
      Math.round(((i + 1) * pages) / this.parallelism),
    );
    const tid = (page: number): string => `'(${page},0)'::tid`;
    return [
      `${sql} WHERE ctid < ${tid(bounds[0]!)}`,
      ...bounds.slice(1).map((page, i) => `${sql} WHERE ctid >= ${tid(bounds[i]!)} AND ctid < ${tid(page)}`),
      `${sql} WHERE ctid >= ${tid(bounds[bounds.length - 1]!)}`,
    ];
  }

  /** The table's identity (relation oid, column types, partitions) in the run's snapshot. */
  private async identityInSnapshot(table: DiscoveredTable): Promise<TableIdentity | undefined> {
    const client = await this.acquire();
    try {
      const identities = await readTableIdentities(client, [table]);
      this.idle.push(client);
      return identities.get(identityKey(table.schemaName, table.tableName));
    } catch (error) {
      await this.discard(client);
      throw describeReadError(error, table, this.config.user);
    }
  }

  /** One COPY of `sql` into spool files, holding a copy slot and a connection meanwhile. */
  private async *copyPart(
    plan: StreamPlan,
    table: DiscoveredTable,
    sql: string,
    signal: AbortSignal,
  ): AsyncGenerator<SpooledBatch, void, undefined> {
    const release = await this.copySlots.acquire(signal);
    try {
      const client = await this.acquire();
      const dialect = this.dialect;
      const format =
        "format" in dialect
          ? "FORMAT text"
          : `FORMAT csv${"quote" in dialect ? `, QUOTE ${quoteLiteral(dialect.quote)}` : ""}`;
      const copy = client.query(copyTo(`COPY (${sql}) TO STDOUT WITH (${format})`));
      const onAbort = (): void => {
        copy.destroy(new Error("cancelled"));
      };
      signal.addEventListener("abort", onAbort, { once: true });
      if (signal.aborted) onAbort();
      let finished = false;
      try {
        yield* spoolBatches(copy, {
          dir: this.spoolDir,
          streamId: plan.schema.streamId,
          columns: plan.schema.columns.map((c) => c.name),
          maxBytes: Math.max(1, this.config.batch_size_mb) * 1024 * 1024,
          maxRows: Math.max(1, this.config.batch_size_rows),
          allocateSequence: this.allocateSequence,
          ...dialect,
        });
        finished = true;
      } catch (error) {
        throw describeReadError(error, table, this.config.user);
      } finally {
        signal.removeEventListener("abort", onAbort);
        if (finished) this.idle.push(client);
        else await this.discard(client);
      }
    } finally {
      release();
    }
  }

  async *readChanges(
    plans: StreamPlan[],
    bookmarks: Record<string, StreamBookmark>,
    options: ChangeReadOptions,
  ): AsyncIterable<ChangeEvent> {
    if (!this.logical)
      throw new PipelineError("readChanges: the session was opened without LOG_BASED streams");
    // The copies are done: their snapshot's transactions would hold a lock on every table they
    // read (a DROP or ALTER TABLE at the source waits on it) and the server's xmin, for as long as
    // the changes are read (for ever, with --follow).
    await Promise.all([...this.all].map((c) => this.discard(c)));
    this.idle.length = 0;
    try {
      yield* this.logical.readChanges(plans as LogicalPlan[], bookmarks, options);
    } catch (error) {
      // The stream's own errors say what broke; the queries beside it (a new column's type,
      // the WAL's end) are mapped here, so a server going away is transient wherever it hits.
      throw postgresError(error, "reading changes");
    }
  }

  async acknowledge(position: string): Promise<void> {
    this.logical?.acknowledge(position);
  }

  async close(): Promise<void> {
    await Promise.all([...this.all].map((c) => this.discard(c)));
    this.idle.length = 0;
    await this.logical?.close();
    this.logical = undefined;
  }
}

function describeReadError(error: unknown, table: DiscoveredTable, user: string): Error {
  // Our own errors (a lost connection, say) already say what happened.
  if (error instanceof SluiceError) return error;
  const privilege = describePrivilegeError(error, table, user);
  if (privilege) return privilege;
  const failure = classifyPostgresError(error);
  const options = { cause: error, transient: failure.transient, server: failure.server };
  if (failure.kind === "connection-lost" || failure.kind === "unreachable") {
    return new ConnectionError(
      `the connection to PostgreSQL broke while reading ${table.schemaName}.${table.tableName} (${failure.message}); the stream starts again from its last committed state`,
      options,
    );
  }
  if (failure.transient) return postgresError(error, `reading ${table.schemaName}.${table.tableName}`);
  return new DataError(`reading ${table.schemaName}.${table.tableName} failed: ${failure.message}`, options);
}
