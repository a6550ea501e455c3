import type pg from "pg";
import pgCopyStreams from "pg-copy-streams";
import type { Duplex, DuplexOptions } from "node:stream";
import { ConnectionError, SluiceError } from "../../../errors.js";
import { builtinIdentity, describeSetting } from "../../plugin-identity.js";
import {
  clientConfigs,
  connectClient,
  describeConnectError,
  quoteIdent,
  quoteLiteral,
  type PostgresConnectionSettings,
} from "../postgres-connection.js";
import { classifyPostgresError, describePostgresMessage } from "../postgres-errors.js";
import { formatLsn, parseLsn, type ReplicationMessage } from "./replication-message.js";

/**
 * The walsender prints values with these settings, so pgoutput's text matches what the
 * FULL_TABLE path reads (see EXTRACT_SESSION_SETTINGS); `lc_monetary=C` fixes money's format.
 */
const WALSENDER_OPTIONS =
  "-c DateStyle=ISO,YMD -c IntervalStyle=postgres -c TimeZone=UTC -c extra_float_digits=1 " +
  "-c bytea_output=hex -c lc_monetary=C -c client_encoding=UTF8";

// NOTE: @types/pg-copy-streams does not declare `both` (CopyBoth, for replication).
const copyBoth = (
  pgCopyStreams as unknown as {
    both(sql: string, options: DuplexOptions & { alignOnCopyDataFrame: boolean }): pg.Submittable & Duplex;
  }
).both;

/** Microseconds between the Unix epoch and PostgreSQL's (2000-01-01). */
const PG_EPOCH_MICROS = 946_684_800_000_000n;

/** While no data flows, ask the server for a keepalive this often (it also keeps us alive). */
const STATUS_INTERVAL_MS = 200;

export interface CreatedSlot {
  slotName: string;
  /** Changes of transactions committing from here on are streamed; older ones are in the snapshot. */
  consistentPoint: bigint;
  /** Exported snapshot, valid while this connection runs no other command. */
  snapshotName: string | undefined;
}

export interface StartOptions {
  slotName: string;
  startLsn: bigint;
  publication: string;
  protocolVersion: number;
}

/**
 * A logical replication connection (`replication=database`): creates slots with an exported
 * snapshot, and streams pgoutput messages with START_REPLICATION over CopyBoth. It reports
 * to the server only positions the runner acknowledged: everything up to them is durable in the
 * warehouse and in the state store, so the server may recycle that WAL.
 */
export class ReplicationConnection {
  private stream: Duplex | undefined;
  private timer: NodeJS.Timeout | undefined;
  private received = 0n;
  private acknowledged = 0n;
  /** The server's end of WAL, as last reported by it. */
  serverWalEnd = 0n;
  private lastMessageAt = Date.now();

  private constructor(
    private readonly client: pg.Client,
    readonly serverVersion: number,
  ) {}

  static async open(settings: PostgresConnectionSettings): Promise<ReplicationConnection> {
    // The same TLS attempts as every connection; not read-only: slots are created here.
    const configs = clientConfigs(settings, "sluice cdc").map(
      (config) => ({ ...config, replication: "database", options: WALSENDER_OPTIONS }) as pg.ClientConfig,
    );
    let client: pg.Client;
    try {
      client = await connectClient(configs);
    } catch (error) {
      const e = error as { code?: string; message?: string };
      if (/WAL sender|replication/i.test(e.message ?? "") && (e.code === "28000" || e.code === "42501")) {
        const plugin = settings.plugin ?? builtinIdentity("tap-postgres");
        throw new ConnectionError(
          `${plugin.name}: PostgreSQL refused a replication connection for user "${settings.user}" (${describeSetting(plugin, "user")}): ${e.message}. LOG_BASED needs a role with REPLICATION (ALTER ROLE ${quoteIdent(settings.user)} REPLICATION) and a pg_hba.conf entry allowing it.`,
          { cause: error },
        );
      }
      throw describeConnectError(error, settings);
    }
    const version = Number(
      (await client.query<{ server_version_num: string }>("SHOW server_version_num")).rows[0]
        ?.server_version_num ?? 0,
    );
    return new ReplicationConnection(client, version);
  }

  /** pgoutput protocol version to ask for: the highest this server speaks, without streaming. */
  get protocolVersion(): number {
    if (this.serverVersion >= 160000) return 4;
    if (this.serverVersion >= 150000) return 3;
    if (this.serverVersion >= 140000) return 2;
    return 1;
  }

  async createSlot(slotName: string, options: { temporary: boolean }): Promise<CreatedSlot> {
    const temporary = options.temporary ? " TEMPORARY" : "";
    // NOTE: PostgreSQL 15 introduced the option-list syntax; the older keyword still works there.
    const exportClause = this.serverVersion >= 150000 ? " (SNAPSHOT 'export')" : " EXPORT_SNAPSHOT";
    const result = await this.client.query<{
      slot_name: string;
      consistent_point: string;
      snapshot_name: string | null;
    }>(`CREATE_REPLICATION_SLOT ${quoteIdent(slotName)}${temporary} LOGICAL pgoutput${exportClause}`);
    const row = result.rows[0];
    if (!row) throw new ConnectionError(`PostgreSQL created slot "${slotName}" but returned no position`);
    return {
      slotName: row.slot_name,
      consistentPoint: parseLsn(row.consistent_point),
      snapshotName: row.snapshot_name ?? undefined,
    };
  }

  /**
   * Starts streaming from `startLsn` and yields messages as they arrive. Reading applies
   * backpressure: while the consumer is busy the socket is not read and the server waits.
   */
  async *start(options: StartOptions): AsyncIterable<ReplicationMessage> {
    const publications = quoteLiteral(quoteIdent(options.publication));
    const sql =
      `START_REPLICATION SLOT ${quoteIdent(options.slotName)} LOGICAL ${formatLsn(options.startLsn)} ` +
      `(proto_version '${options.protocolVersion}', publication_names ${publications})`;
    this.acknowledged = options.startLsn;
    this.received = options.startLsn;
    // NOTE: each CopyData holds one message; without object mode, Node concatenates the
    // chunks buffered while we were busy and the message boundaries are lost.
    const stream = this.client.query(
      copyBoth(sql, { alignOnCopyDataFrame: true, readableObjectMode: true, readableHighWaterMark: 256 }),
    );
    this.stream = stream;
    // Errors reach the reader through the iterator; this only keeps a late one (the socket
    // closed by `close`) from becoming an unhandled 'error' event.
    stream.on("error", () => undefined);
    this.timer = setInterval(() => {
      if (Date.now() - this.lastMessageAt >= STATUS_INTERVAL_MS) this.sendStatus(true);
    }, STATUS_INTERVAL_MS);
    this.timer.unref();
    try {
      // The consumer may stop reading and still acknowledge (its last checkpoint comes after
      // the WAL end was reached), so leaving the loop must not destroy the stream.
      const chunks = (
        stream as unknown as { iterator(o: { destroyOnReturn: boolean }): AsyncIterable<Buffer> }
      ).iterator({ destroyOnReturn: false });
      for await (const chunk of chunks) {
        this.lastMessageAt = Date.now();
        const kind = chunk[0];
        if (kind === 0x77) {
          // XLogData 'w': walStart, walEnd, server time, then one pgoutput message.
          const walStart = chunk.readBigUInt64BE(1);
          const walEnd = chunk.readBigUInt64BE(9);
          if (walEnd > this.serverWalEnd) this.serverWalEnd = walEnd;
          if (walStart > this.received) this.received = walStart;
          yield { type: "data", walStart, walEnd, data: chunk.subarray(25) };
        } else if (kind === 0x6b) {
          // Primary keepalive 'k': walEnd, server time, reply requested.
          const walEnd = chunk.readBigUInt64BE(1);
          if (walEnd > this.serverWalEnd) this.serverWalEnd = walEnd;
          if (chunk[17] === 1) this.sendStatus(false);
          yield { type: "keepalive", walEnd };
        }
      }
      // The consumer leaves by returning, which never gets here: the stream ended by itself,
      // which the server does (CopyDone) when it shuts down or restarts.
      throw new ConnectionError(
        "the PostgreSQL server ended the replication stream (shut down or restarted?); changes up to the last committed position are in the warehouse, and reading continues from there",
        { transient: true },
      );
    } catch (error) {
      throw describeStreamError(error);
    } finally {
      this.stopTimer();
    }
  }

  /** Everything up to `lsn` is durable downstream: report it as flushed. */
  acknowledge(lsn: bigint): void {
    if (lsn <= this.acknowledged) return;
    this.acknowledged = lsn;
    this.sendStatus(false);
  }

  get acknowledgedLsn(): bigint {
    return this.acknowledged;
  }

  /** Standby status update 'r': written, flushed and applied positions, our clock, reply flag. */
  private sendStatus(replyRequested: boolean): void {
    const stream = this.stream;
    if (!stream || stream.destroyed || !stream.writable) return;
    const message = Buffer.alloc(34);
    message[0] = 0x72;
    message.writeBigUInt64BE(this.received > this.acknowledged ? this.received : this.acknowledged, 1);
    message.writeBigUInt64BE(this.acknowledged, 9);
    message.writeBigUInt64BE(this.acknowledged, 17);
    message.writeBigInt64BE(BigInt(Date.now()) * 1000n - PG_EPOCH_MICROS, 25);
    message[33] = replyRequested ? 1 : 0;
    stream.write(message);
  }

  private stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Runs a replication command or SQL (allowed on a `replication=database` connection). */
  async query<R extends pg.QueryResultRow>(sql: string): Promise<R[]> {
    return (await this.client.query<R>(sql)).rows;
  }

  async close(): Promise<void> {
    this.stopTimer();
    if (this.stream && !this.stream.destroyed) {
      // A last status update, so the server records the final acknowledged position.
      this.sendStatus(false);
      this.stream.end();
    }
    // NOTE: ending CopyBoth cleanly needs the server's CopyDone; closing the socket is enough
    // (the server keeps the slot and its confirmed position) and cannot hang.
    const connection = (this.client as unknown as { connection?: { stream?: { destroy(): void } } })
      .connection;
    await Promise.race([
      this.client.end().catch(() => undefined),
      new Promise((resolve) => setTimeout(resolve, 2000).unref()),
    ]);
    connection?.stream?.destroy();
  }
}

function describeStreamError(error: unknown): Error {
  if (error instanceof SluiceError) return error;
  const failure = classifyPostgresError(error);
  // A socket or server error mid-stream is almost always the connection going (a restart, a
  // failover); what is not (a decoding error, WAL the server removed) says so and is terminal.
  return new ConnectionError(
    `the replication stream from PostgreSQL broke (${describePostgresMessage(failure)}); changes are read again from the last committed position`,
    { cause: error, transient: failure.transient, server: failure.server },
  );
}
