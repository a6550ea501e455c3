import type pg from "pg";
import { ConfigError, ConnectionError } from "../../../errors.js";
import type { StreamBookmark } from "../../../protocol/state.js";
import type { ChangeEvent, ChangeReadOptions, StreamPlan } from "../../connector.js";
import { connectPostgres, quoteIdent, type PostgresConnectionSettings } from "../postgres-connection.js";
import type { DiscoveredTable } from "../postgres-discovery.js";
import { describePgType, readChanges, type ChangeTable } from "./change-reader.js";
import {
  currentWalLsn,
  dropSlot,
  preparePublication,
  publishesStoredGenerated,
  serverVersionNum,
  slotStatus,
  type LogicalReplicationSettings,
} from "./logical-replication-setup.js";
import { temporarySlotName } from "./replication-slot-name.js";
import { ReplicationConnection } from "./replication-connection.js";
import {
  identityChange,
  identityKey,
  readTableIdentities,
  recordedIdentity,
  type TableIdentity,
} from "./table-identity.js";
import { formatLsn } from "./replication-message.js";

/** How long a slot may stay busy after its previous reader died before we give up. */
const SLOT_RELEASE_WAIT_MS = 15_000;

export interface LogicalSessionSettings extends PostgresConnectionSettings, LogicalReplicationSettings {
  batch_size_mb: number;
  batch_size_rows: number;
  max_run_seconds: number;
  logical_poll_total_seconds: number;
  break_at_end_lsn: boolean;
  logical_commit_seconds: number;
  logical_truncate: "apply" | "fail";
  logical_slot_lag_warn_mb: number;
}

/** A LOG_BASED plan with the table facts the change reader needs. */
export interface LogicalPlan extends StreamPlan {
  table: DiscoveredTable;
}

/** What `prepare` decided: the snapshot the run's copies read and where their changes begin. */
export interface LogicalSnapshot {
  /** Exported snapshot of the slot (or of a temporary slot) for every copy of this run. */
  snapshotName: string;
  /** Changes committed from here on are not in the snapshot: the copied streams' `lsn`. */
  position: bigint;
  /** LOG_BASED streams that need an initial copy in this run. */
  streamsToCopy: Set<string>;
}

/**
 * Change data capture for one run: the publication and the permanent slot, an exported snapshot
 * for the initial copies that meets the slot's stream exactly, then the stream itself.
 *
 * A new slot is created with an exported snapshot: its copies plus its changes are the source,
 * no gap and no overlap. A stream that needs a copy while the slot already exists (a table added
 * to the selection, `--full-refresh`) reads a temporary slot's snapshot and skips the changes
 * committed before that slot's start (they are in its copy). A slot the server invalidated
 * (`wal_status = lost`) is recreated and every stream copied again: changes were lost with it.
 * So is a stream whose table is no longer the one its copy recorded (`table-identity.ts`): created
 * again, a column's type changed, a partition truncated, ...; during the run the change reader
 * notices the same and the runner copies the stream again through this same path.
 */
export class LogicalReplicationSession {
  private replication: ReplicationConnection | undefined;
  private snapshotConnection: ReplicationConnection | undefined;
  private publication: string | undefined;
  /** Said once the changes start (`readChanges`): what `prepare` decided that the user should know. */
  private readonly warnings: string[] = [];
  /** Identities of streams whose bookmark has none, read at `prepare`. */
  private readonly adopted = new Map<string, TableIdentity>();
  /** An ordinary connection outside any snapshot: setup, WAL position, types of new columns. */
  private controlClient: pg.Client | undefined;

  /** `slotName`: the pipeline's slot (`slotNameFor`); created here when it does not exist. */
  constructor(
    private readonly settings: LogicalSessionSettings,
    readonly slotName: string,
    private readonly allocateSequence: (rows: number) => number,
    private readonly spoolDir: string,
  ) {}

  private get client(): pg.Client {
    if (!this.controlClient) throw new Error("LogicalReplicationSession.prepare was not called");
    return this.controlClient;
  }

  async prepare(
    plans: LogicalPlan[],
    bookmarks: Record<string, StreamBookmark>,
  ): Promise<LogicalSnapshot | undefined> {
    // CDC's own connection, the one that writes: it creates and alters the publication and drops a lost slot.
    this.controlClient = await connectPostgres(this.settings, "sluice cdc control", { readOnly: false });
    // Before a publication is made for a slot that cannot be this database's, or read.
    await this.refuseSlotOfAnotherDatabase();
    let status = await slotStatus(this.client, this.slotName);
    if (status && status.plugin !== "pgoutput") throw this.otherPluginError(status.plugin, plans, bookmarks);
    this.publication = await preparePublication(
      this.client,
      this.settings,
      this.slotName,
      plans.map((p) => p.table),
    );
    // NOTE: a run killed a moment ago leaves its walsender exiting for a little while; the
    // state lock already keeps two runs of this pipeline apart, so wait for it briefly.
    for (let waited = 0; status?.active && waited < SLOT_RELEASE_WAIT_MS; waited += 250) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      status = await slotStatus(this.client, this.slotName);
    }
    if (status?.active) {
      throw new ConnectionError(
        `replication slot "${this.slotName}" is in use by another process; is another run of this pipeline going on?`,
        { transient: true },
      );
    }
    let slotLost = false;
    if (status?.lost) {
      // NOTE: the server dropped WAL this slot still needed; its position means nothing now.
      await dropSlot(this.client, this.slotName);
      status = undefined;
      slotLost = true;
    }
    const confirmed = status?.confirmedFlush;
    const toCopy = new Set<string>();
    for (const plan of plans) {
      const id = plan.schema.streamId;
      const lsn = bookmarks[id]?.lsn;
      if (slotLost || !status || lsn === undefined) {
        toCopy.add(id);
      } else if (confirmed !== undefined && BigInt(lsn) < confirmed) {
        // NOTE: the slot was confirmed past this stream's position by a run that did not store
        // its changes: another pipeline on a shared slot (a `logical_slot_name` or pipelinewise
        // name used by two), a stream left out of the selection for a while, a state restored
        // from a backup. The server no longer has them, so streaming would skip them silently.
        // Slots per pipeline make this rare; this stays as the safety net. The table is read again.
        toCopy.add(id);
        this.warnings.push(
          `${id}: replication slot "${this.slotName}" was confirmed up to ${formatLsn(confirmed)}, past this stream's position ${formatLsn(BigInt(lsn))}, by a run that did not load its changes; copying the table again so none is lost`,
        );
      }
    }
    const identities = await readTableIdentities(
      this.client,
      plans.map((p) => p.table),
    );
    await this.refuseMissingTables(plans, bookmarks, identities);
    await this.refuseUnpublishedColumns(plans, identities);
    for (const plan of plans) {
      const id = plan.schema.streamId;
      if (toCopy.has(id)) continue;
      const recorded = recordedIdentity(bookmarks[id]);
      const now = identities.get(identityKey(plan.table.schemaName, plan.table.tableName));
      // A bookmark of a version that recorded no identity: what the table is now is what this
      // run's checkpoints and Relation messages are held to (until a copy records one).
      if (recorded === undefined && now !== undefined) this.adopted.set(id, now);
      const reason = recorded && now ? identityChange(recorded, now) : undefined;
      if (reason) {
        // The change stream cannot make the warehouse equal the source: read the table again.
        toCopy.add(id);
        this.warnings.push(`${id}: ${reason}; copying the table again`);
      }
    }
    this.replication = await ReplicationConnection.open(this.settings);
    if (!status) {
      const created = await this.replication.createSlot(this.slotName, { temporary: false });
      return {
        snapshotName: created.snapshotName!,
        position: created.consistentPoint,
        streamsToCopy: toCopy,
      };
    }
    if (toCopy.size === 0) return undefined;
    this.snapshotConnection = await ReplicationConnection.open(this.settings);
    const temporary = await this.snapshotConnection.createSlot(
      temporarySlotName(this.slotName, process.pid),
      { temporary: true },
    );
    return {
      snapshotName: temporary.snapshotName!,
      position: temporary.consistentPoint,
      streamsToCopy: toCopy,
    };
  }

  /**
   * Slot names are server-wide: a name this database has no slot of may be another database's
   * (a state copied from another environment recorded it, or a `logical_slot_name` used twice).
   * Said here, naming both ways out, rather than as the server's "already exists".
   */
  /**
   * A slot of another output plugin cannot be read. When the state's positions came from it
   * (pipelinewise-tap-postgres's wal2json slot, imported with its state), they mean nothing in a
   * new slot either: the way on is a fresh copy of those streams in a slot of the pipeline's own.
   */
  private otherPluginError(
    plugin: string,
    plans: LogicalPlan[],
    bookmarks: Record<string, StreamBookmark>,
  ): ConfigError {
    const positioned = plans
      .map((p) => p.schema.streamId)
      .filter((id) => bookmarks[id]?.lsn !== undefined && bookmarks[id]?.lsn !== null);
    if (positioned.length > 0 && !this.settings.logical_slot_name) {
      return new ConfigError(
        `replication slot "${this.slotName}" uses the ${plugin} plugin (pipelinewise-tap-postgres's, whose positions this state holds); sluice reads pgoutput, and a position of one slot means nothing in another: start ${positioned.join(", ")} again in a slot of this pipeline's own with \`sluice run <extractor> <loader> --full-refresh --select ${positioned.join(" ")}\` (their tables are copied again), then drop "${this.slotName}" once nothing reads it (docs/migrate-from-meltano.md)`,
      );
    }
    return new ConfigError(
      `replication slot "${this.slotName}" uses the ${plugin} plugin; sluice needs pgoutput: drop it (sluice cdc teardown <extractor> <loader>) or set logical_slot_name to another name`,
    );
  }

  private async refuseSlotOfAnotherDatabase(): Promise<void> {
    const elsewhere = await this.client.query<{ datname: string | null }>(
      "SELECT database AS datname FROM pg_replication_slots WHERE slot_name = $1 AND database IS DISTINCT FROM current_database()",
      [this.slotName],
    );
    const other = elsewhere.rows[0];
    if (!other) return;
    throw new ConfigError(
      `replication slot "${this.slotName}" belongs to ${other.datname ? `database "${other.datname}"` : "a physical replica"} of this server (slot names are server-wide), not to "${this.settings.dbname}": set logical_slot_name to a name of its own, or remove "replication_slot" from this pipeline's state (sluice state get, then sluice state set --force) to let sluice name one`,
    );
  }

  /**
   * A stream whose table is gone (dropped, or renamed or moved to another schema between
   * discovery and now, or mid-run) would stream nothing, silently: refused, naming where a table
   * with the oid its copy recorded is now.
   */
  private async refuseMissingTables(
    plans: LogicalPlan[],
    bookmarks: Record<string, StreamBookmark>,
    identities: Map<string, TableIdentity>,
  ): Promise<void> {
    const problems: string[] = [];
    for (const plan of plans) {
      const { schemaName, tableName } = plan.table;
      if (identities.has(identityKey(schemaName, tableName))) continue;
      const oid = recordedIdentity(bookmarks[plan.schema.streamId])?.oid;
      const moved = oid === undefined ? undefined : await this.nameOfRelation(oid);
      problems.push(
        `${plan.schema.streamId}: table ${schemaName}.${tableName} does not exist any more${moved ? ` (it is ${moved} now: renamed or moved)` : " (dropped, renamed or moved)"}; select the table under its new name (a new stream), or deselect this one`,
      );
    }
    if (problems.length > 0) throw new ConfigError(problems);
  }

  /** `schema.table` of the relation with this oid, if one exists (a table renamed or moved). */
  private async nameOfRelation(oid: number): Promise<string | undefined> {
    const result = await this.client.query<{ name: string }>(
      "SELECT format('%I.%I', n.nspname, c.relname) AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1",
      [oid],
    );
    return result.rows[0]?.name;
  }

  /**
   * A generated column of a LOG_BASED stream must be in the change stream, or its warehouse
   * value would go stale: PostgreSQL 18 publishes stored ones (sluice's publication asks for
   * them), no version publishes virtual ones. Refused before anything is copied, naming the column.
   */
  private async refuseUnpublishedColumns(
    plans: LogicalPlan[],
    identities: Map<string, TableIdentity>,
  ): Promise<void> {
    const generated = plans.flatMap((plan) => {
      const selected = new Set(plan.schema.columns.map((c) => c.name));
      const identity = identities.get(identityKey(plan.table.schemaName, plan.table.tableName));
      return (identity?.columns ?? [])
        .filter((c) => c.generated !== "" && selected.has(c.name))
        .map((c) => ({ plan, column: c }));
    });
    if (generated.length === 0) return;
    const version = await serverVersionNum(this.client);
    const publishesStored = await publishesStoredGenerated(this.client, this.publication!);
    const problems = generated.flatMap(({ plan, column }) => {
      const where = `${plan.schema.streamId}: column "${column.name}"`;
      if (column.generated === "v") {
        return [
          `${where} is a virtual generated column, which PostgreSQL does not publish: LOG_BASED cannot keep it current; deselect it, or make it STORED (PostgreSQL 18)`,
        ];
      }
      if (version < 180_000) {
        return [
          `${where} is a generated column, which PostgreSQL before 18 does not publish: LOG_BASED cannot keep it current; deselect it, compute it in the warehouse, or upgrade to PostgreSQL 18`,
        ];
      }
      if (!publishesStored) {
        return [
          `${where} is a stored generated column, which publication "${this.publication!}" does not publish; run ALTER PUBLICATION ${quoteIdent(this.publication!)} SET (publish_generated_columns = stored), or deselect the column`,
        ];
      }
      return [];
    });
    if (problems.length > 0) throw new ConfigError(problems);
  }

  async *readChanges(
    plans: LogicalPlan[],
    bookmarks: Record<string, StreamBookmark>,
    options: ChangeReadOptions,
  ): AsyncIterable<ChangeEvent> {
    // The copies are done: the temporary slot (and its snapshot) are not needed any more.
    await this.snapshotConnection?.close();
    this.snapshotConnection = undefined;
    const replication = this.replication ?? (await ReplicationConnection.open(this.settings));
    this.replication = replication;
    const tables = plans.map((plan) => {
      const lsn = bookmarks[plan.schema.streamId]?.lsn;
      if (lsn === undefined) {
        throw new ConfigError(`${plan.schema.streamId}: LOG_BASED stream has no lsn in its state`);
      }
      return {
        plan,
        pgTypes: new Map(plan.table.columns.map((c) => [c.name, c.pg])),
        knownColumns: plan.table.columns.map((c) => c.name),
        fromLsn: BigInt(lsn),
        identity: recordedIdentity(bookmarks[plan.schema.streamId]) ?? this.adopted.get(plan.schema.streamId),
      };
    });
    const checkIdentities = async (): Promise<{ streamId: string; reason: string }[]> => {
      const watched = tables.filter((t) => t.identity !== undefined);
      if (watched.length === 0) return [];
      const now = await readTableIdentities(
        this.client,
        watched.map((t) => t.plan.table),
      );
      const changes: { streamId: string; reason: string }[] = [];
      for (const t of watched) {
        const { schemaName, tableName } = t.plan.table;
        const current = now.get(identityKey(schemaName, tableName));
        let reason: string | undefined;
        if (current === undefined) {
          const moved = await this.nameOfRelation(t.identity!.oid);
          reason = `table ${schemaName}.${tableName} no longer exists${moved ? ` (it is ${moved} now: renamed or moved)` : " (dropped, renamed or moved)"}`;
        } else {
          reason = identityChange(t.identity!, current);
        }
        if (reason) changes.push({ streamId: t.plan.schema.streamId, reason });
      }
      return changes;
    };
    const startLsn = tables.reduce((min, t) => (t.fromLsn < min ? t.fromLsn : min), tables[0]!.fromLsn);
    const stopAt =
      !options.follow && this.settings.break_at_end_lsn ? await currentWalLsn(this.client) : undefined;
    const warnBytes = this.settings.logical_slot_lag_warn_mb * 1024 * 1024;
    const events = readChanges({
      messages: replication.start({
        slotName: this.slotName,
        startLsn,
        publication: this.publication!,
        protocolVersion: replication.protocolVersion,
      }),
      tables,
      spoolDir: this.spoolDir,
      maxBatchBytes: Math.max(1, this.settings.batch_size_mb) * 1024 * 1024,
      maxBatchRows: Math.max(1, this.settings.batch_size_rows),
      allocateSequence: this.allocateSequence,
      ...(stopAt !== undefined ? { stopAt } : {}),
      maxRunSeconds: this.settings.max_run_seconds,
      idleSeconds: this.settings.logical_poll_total_seconds,
      follow: options.follow,
      signal: options.signal,
      commitEveryChanges: Math.max(1, this.settings.batch_size_rows),
      commitEverySeconds: Math.max(0, this.settings.logical_commit_seconds),
      checkIdentities,
      fetchRow: (table, keys, columns) => this.fetchRow(table, keys, columns),
      describeType: (oid, typmod, column) =>
        describePgType(async (sql) => (await this.client.query(sql)).rows, oid, typmod, column),
    });
    for (const message of this.warnings.splice(0)) yield { type: "warning", message };
    for await (const event of events) {
      if (event.type === "truncate" && this.settings.logical_truncate === "fail") {
        throw new ConfigError(
          `logical_truncate: ${event.streamIds.join(", ")} ${event.streamIds.length === 1 ? "was" : "were"} truncated at the source; with logical_truncate = fail the run stops before that point (set it to apply to empty the warehouse table too)`,
        );
      }
      if (event.type === "checkpoint") {
        const position = BigInt(event.position);
        const lagBytes = Number(
          replication.serverWalEnd > position ? replication.serverWalEnd - position : 0n,
        );
        yield { ...event, lagBytes };
        if (lagBytes > warnBytes) {
          yield {
            type: "warning",
            message: `replication slot "${this.slotName}" holds ${Math.round(lagBytes / 1048576)} MB of WAL on the server (over logical_slot_lag_warn_mb = ${this.settings.logical_slot_lag_warn_mb}); if it grows, the server may run out of disk`,
          };
        }
        continue;
      }
      yield event;
    }
  }

  /** See `ChangeReaderOptions.fetchRow`: values as the type's output function prints them, as pgoutput does. */
  private async fetchRow(
    table: ChangeTable,
    keys: Map<string, string>,
    columns: string[],
  ): Promise<Map<string, string | null> | undefined> {
    const { schemaName, tableName } = (table.plan as LogicalPlan).table;
    const select = columns
      .map(
        (c, i) =>
          `CASE WHEN ${quoteIdent(c)} IS NULL THEN NULL ELSE format('%s', ${quoteIdent(c)}) END AS c${i}`,
      )
      .join(", ");
    const keyNames = [...keys.keys()];
    const where = keyNames
      .map((k, i) => `${quoteIdent(k)} = $${i + 1}::${table.pgTypes.get(k)?.formatted ?? "text"}`)
      .join(" AND ");
    const result = await this.client.query<Record<string, string | null>>(
      `SELECT ${select} FROM ${quoteIdent(schemaName)}.${quoteIdent(tableName)} WHERE ${where}`,
      keyNames.map((k) => keys.get(k)!),
    );
    const row = result.rows[0];
    if (row === undefined) return undefined;
    return new Map(columns.map((c, i) => [c, row[`c${i}`] ?? null]));
  }

  acknowledge(position: string): void {
    this.replication?.acknowledge(BigInt(position));
  }

  async close(): Promise<void> {
    await this.snapshotConnection?.close();
    await this.replication?.close();
    await this.controlClient?.end().catch(() => undefined);
    this.snapshotConnection = undefined;
    this.replication = undefined;
    this.controlClient = undefined;
  }
}
