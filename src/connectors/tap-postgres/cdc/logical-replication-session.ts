import type pg from "pg";
import { ConfigError, ConnectionError } from "../../../errors.js";
import type { StreamBookmark } from "../../../protocol/state.js";
import type { ChangeEvent, ChangeReadOptions, StreamPlan } from "../../connector.js";
import { connectPostgres, type PostgresConnectionSettings } from "../postgres-connection.js";
import type { DiscoveredTable } from "../postgres-discovery.js";
import { describePgType, readChanges } from "./change-reader.js";
import {
  currentWalLsn,
  dropSlot,
  preparePublication,
  slotStatus,
  type LogicalReplicationSettings,
} from "./logical-replication-setup.js";
import { temporarySlotName } from "./replication-slot-name.js";
import { ReplicationConnection } from "./replication-connection.js";
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
 */
export class LogicalReplicationSession {
  private replication: ReplicationConnection | undefined;
  private snapshotConnection: ReplicationConnection | undefined;
  private publication: string | undefined;
  /** Said once the changes start (`readChanges`): what `prepare` decided that the user should know. */
  private readonly warnings: string[] = [];
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
    // Before a publication is made for a slot that cannot be this database's.
    await this.refuseSlotOfAnotherDatabase();
    this.publication = await preparePublication(
      this.client,
      this.settings,
      this.slotName,
      plans.map((p) => p.table),
    );
    let status = await slotStatus(this.client, this.slotName);
    if (status && status.plugin !== "pgoutput") {
      throw new ConfigError(
        `replication slot "${this.slotName}" uses the ${status.plugin} plugin; sluice needs pgoutput: drop it (sluice cdc teardown <extractor> <loader>) or set logical_slot_name to another name`,
      );
    }
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
      };
    });
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
