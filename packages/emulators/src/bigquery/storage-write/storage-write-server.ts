/**
 * The BigQuery Storage Write API (`google.cloud.bigquery.storage.v1.BigQueryWrite`) over gRPC,
 * served from the protos `@google-cloud/bigquery-storage` ships, on the REST emulator's catalog:
 * what one writes here the REST API reads.
 *
 * - The default stream (`.../tables/<t>/streams/_default`): rows are committed as each request is
 *   answered (at-least-once; no offsets). Rows with the `_CHANGE_TYPE` pseudocolumn (`UPSERT`,
 *   `DELETE`) are change data capture (https://cloud.google.com/bigquery/docs/change-data-capture):
 *   only here, only on a table with a primary key of at most 16 columns, ordered per key by
 *   `_CHANGE_SEQUENCE_NUMBER` (change-sequence-number.ts), applied as `cdc-changes.ts` says. An
 *   UPSERT replaces the whole row: a column the row does not set becomes NULL.
 * - Application-created streams: `CreateWriteStream` (PENDING or COMMITTED), `AppendRows` with
 *   offsets (an offset past the end is OUT_OF_RANGE, one already written ALREADY_EXISTS),
 *   `FinalizeWriteStream`, and `BatchCommitWriteStreams` for PENDING streams, which commits all
 *   the streams' rows at once. `_CHANGE_TYPE` is refused on them, as BigQuery refuses it.
 * - Limits (https://cloud.google.com/bigquery/quotas#write-api-limits): an AppendRows request
 *   is at most 10 MB.
 * Errors are gRPC statuses (for a call) or `AppendRowsResponse.error` with `row_errors` (for an
 * append), which the official client hands back as the append's result.
 * Not emulated: BUFFERED streams and FlushRows, Arrow rows, missing value interpretations other
 * than NULL, schema updates, quotas on throughput and connections.
 */
import { createRequire } from "node:module";
import path from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import type protobuf from "protobufjs";
import type { JsonObject } from "sluice/dist/protocol/exact-json.js";
import { BigQueryApiError } from "../bigquery-api-error.js";
import type { BigQueryCatalog, TableEntry } from "../bigquery-catalog.js";
import { insertRows } from "../bigquery-load-job.js";
import { canonicalScalar, RowValueError, stagedJsonValue } from "../bigquery-value-parser.js";
import { findField, type TableFieldSchema } from "../bigquery-types.js";
import { CdcChanges, type PendingChange, type StorageWriteStats } from "./cdc-changes.js";
import { parseChangeSequenceNumber } from "./change-sequence-number.js";
import { decodeRows, ProtoRowsError, writerType, type DecodedRow } from "./proto-rows.js";

/** https://cloud.google.com/bigquery/quotas#write-api-limits: "AppendRows request size: 10 MB". */
export const MAX_APPEND_REQUEST_BYTES = 10 * 1024 * 1024;
/** https://cloud.google.com/bigquery/docs/change-data-capture#prerequisites: composite keys of up to 16 columns. */
export const MAX_CDC_KEY_COLUMNS = 16;

export interface StorageWriteServer {
  /** `host:port`, plaintext: `new WriterClient({ apiEndpoint: host, port, sslCreds: grpc.credentials.createInsecure() })`. */
  endpoint: string;
  stats: StorageWriteStats;
  /** Runs BigQuery's background apply of pending CDC changes now (a test that would wait for it). */
  applyPendingChanges(): Promise<void>;
  /** Called before a DML statement: it sees every change applied. */
  changes: CdcChanges;
  /**
   * Makes the next `times` (default 1) AppendRows requests answer with the gRPC status `code`
   * (e.g. 14 UNAVAILABLE): before applying them, or with `afterApply` once they are applied (an
   * answer lost on the way: the client sends the request again).
   */
  failNextAppend(options: { code: grpc.status; afterApply?: boolean; times?: number }): void;
  close(): Promise<void>;
}

interface WriteStreamState {
  name: string;
  datasetId: string;
  tableId: string;
  type: "PENDING" | "COMMITTED";
  createTime: Date;
  rows: JsonObject[];
  finalized?: Date;
  committed?: Date;
}

type Message = Record<string, unknown>;

function loadService(): grpc.ServiceDefinition {
  const require = createRequire(import.meta.url);
  const protos = path.join(
    path.dirname(require.resolve("@google-cloud/bigquery-storage")),
    "../protos/protos.json",
  );
  const definition = protoLoader.fromJSON(require(protos) as protobuf.INamespace, {
    keepCase: false,
    longs: String,
    enums: String,
    defaults: false,
    oneofs: true,
  });
  return definition["google.cloud.bigquery.storage.v1.BigQueryWrite"] as grpc.ServiceDefinition;
}

class StatusError extends Error {
  constructor(
    readonly code: grpc.status,
    message: string,
    /** Row-level errors, for an append. */
    readonly rowErrors: { index: number; code: string; message: string }[] = [],
  ) {
    super(message);
  }
}

const STREAM_NAME = /^projects\/([^/]+)\/datasets\/([^/]+)\/tables\/([^/]+)\/streams\/([^/]+)$/;
const TABLE_NAME = /^projects\/([^/]+)\/datasets\/([^/]+)\/tables\/([^/]+)$/;

export async function startStorageWriteServer(options: {
  catalog: BigQueryCatalog;
  /** Default 0: any free port. */
  port?: number;
}): Promise<StorageWriteServer> {
  const { catalog } = options;
  const changes = new CdcChanges(catalog);
  const streams = new Map<string, WriteStreamState>();
  let nextStream = 0;
  const failures: { code: grpc.status; afterApply: boolean; remaining: number }[] = [];
  const takeFailure = (afterApply: boolean): StatusError | undefined => {
    const failure = failures.find((f) => f.afterApply === afterApply && f.remaining > 0);
    if (!failure) return undefined;
    if (--failure.remaining === 0) failures.splice(failures.indexOf(failure), 1);
    return new StatusError(failure.code, `Injected failure (${grpc.status[failure.code]})`);
  };

  const tableOf = (projectId: string, datasetId: string, tableId: string): TableEntry => {
    if (projectId !== catalog.projectId)
      throw new StatusError(grpc.status.NOT_FOUND, `Project ${projectId} not found`);
    const table = catalog.findTable(datasetId, tableId);
    if (!table) {
      throw new StatusError(
        grpc.status.NOT_FOUND,
        `Requested entity was not found. Entity: projects/${projectId}/datasets/${datasetId}/tables/${tableId}`,
      );
    }
    return table;
  };

  const parseTable = (name: string): { datasetId: string; tableId: string; table: TableEntry } => {
    const match = TABLE_NAME.exec(name);
    if (!match) throw new StatusError(grpc.status.INVALID_ARGUMENT, `Invalid table name: ${name}`);
    return { datasetId: match[2]!, tableId: match[3]!, table: tableOf(match[1]!, match[2]!, match[3]!) };
  };

  const streamResource = (s: WriteStreamState, table: TableEntry, full: boolean): Message => ({
    name: s.name,
    type: s.type,
    createTime: timestamp(s.createTime),
    ...(s.committed ? { commitTime: timestamp(s.committed) } : {}),
    writeMode: "INSERT",
    location: catalog.dataset(s.datasetId).location,
    ...(full ? { tableSchema: { fields: table.schema.map(storageField) } } : {}),
  });

  const unary =
    (handler: (request: Message) => Promise<Message> | Message) =>
    (call: grpc.ServerUnaryCall<Message, Message>, callback: grpc.sendUnaryData<Message>): void => {
      Promise.resolve()
        .then(() => handler(call.request))
        .then(
          (response) => callback(null, response),
          (error: unknown) => callback(serviceError(error)),
        );
    };

  const service: grpc.UntypedServiceImplementation = {
    CreateWriteStream: unary((request) => {
      const { datasetId, tableId, table } = parseTable(String(request.parent ?? ""));
      const type = String((request.writeStream as Message | undefined)?.type ?? "TYPE_UNSPECIFIED");
      if (type !== "PENDING" && type !== "COMMITTED") {
        throw new StatusError(
          grpc.status.INVALID_ARGUMENT,
          type === "BUFFERED"
            ? "The emulator does not implement BUFFERED write streams"
            : `Write stream type must be PENDING or COMMITTED (got ${type}); the default stream needs no CreateWriteStream`,
        );
      }
      const state: WriteStreamState = {
        name: `projects/${catalog.projectId}/datasets/${datasetId}/tables/${tableId}/streams/s${++nextStream}`,
        datasetId,
        tableId,
        type,
        createTime: new Date(),
        rows: [],
      };
      streams.set(state.name, state);
      return streamResource(state, table, true);
    }),
    GetWriteStream: unary((request) => {
      const name = String(request.name ?? "");
      const match = STREAM_NAME.exec(name);
      if (!match) throw new StatusError(grpc.status.INVALID_ARGUMENT, `Invalid stream name: ${name}`);
      const table = tableOf(match[1]!, match[2]!, match[3]!);
      const full = request.view === "FULL";
      if (match[4] === "_default") {
        return {
          name,
          type: "COMMITTED",
          writeMode: "INSERT",
          location: catalog.dataset(match[2]!).location,
          ...(full ? { tableSchema: { fields: table.schema.map(storageField) } } : {}),
        };
      }
      const state = streams.get(name);
      if (!state) throw new StatusError(grpc.status.NOT_FOUND, `Stream not found: ${name}`);
      return streamResource(state, table, full);
    }),
    FinalizeWriteStream: unary((request) => {
      const name = String(request.name ?? "");
      if (name.endsWith("/streams/_default")) {
        throw new StatusError(grpc.status.INVALID_ARGUMENT, "The default stream cannot be finalized");
      }
      const state = streams.get(name);
      if (!state) throw new StatusError(grpc.status.NOT_FOUND, `Stream not found: ${name}`);
      state.finalized ??= new Date();
      return { rowCount: String(state.rows.length) };
    }),
    BatchCommitWriteStreams: unary(async (request) => {
      const { datasetId, tableId } = parseTable(String(request.parent ?? ""));
      const names = (request.writeStreams as string[] | undefined) ?? [];
      const errors: Message[] = [];
      const toCommit: WriteStreamState[] = [];
      for (const name of names) {
        const state = streams.get(name);
        if (!state || state.datasetId !== datasetId || state.tableId !== tableId) {
          errors.push({ code: "STREAM_NOT_FOUND", entity: name, errorMessage: `Stream not found: ${name}` });
        } else if (state.type !== "PENDING") {
          errors.push({
            code: "INVALID_STREAM_TYPE",
            entity: name,
            errorMessage: "Only PENDING streams are committed",
          });
        } else if (state.committed) {
          errors.push({
            code: "STREAM_ALREADY_COMMITTED",
            entity: name,
            errorMessage: "Stream already committed",
          });
        } else if (!state.finalized) {
          errors.push({
            code: "INVALID_STREAM_STATE",
            entity: name,
            errorMessage: "Stream is not finalized",
          });
        } else toCommit.push(state);
      }
      // Atomic: one bad stream commits none (the response lists why, without commit_time).
      if (errors.length > 0) return { streamErrors: errors };
      const now = new Date();
      await catalog.exclusive(async (c) => {
        await c.run("BEGIN TRANSACTION");
        try {
          for (const state of toCommit) await insertChecked(catalog, c, datasetId, tableId, state.rows);
          await c.run("COMMIT");
        } catch (error) {
          await c.run("ROLLBACK");
          throw error;
        }
      });
      for (const state of toCommit) state.committed = now;
      return { commitTime: timestamp(now) };
    }),
    FlushRows: unary(() => {
      throw new StatusError(
        grpc.status.INVALID_ARGUMENT,
        "FlushRows applies to BUFFERED streams, which the emulator does not implement",
      );
    }),
    AppendRows: (call: grpc.ServerDuplexStream<Message, Message>) => {
      // The connection's stream and writer schema: the first request names them, later ones may not.
      let streamName = "";
      let type: protobuf.Type | undefined;
      let queue = Promise.resolve();
      call.on("data", (request: Message) => {
        queue = queue.then(async () => {
          try {
            if (request.writeStream) streamName = String(request.writeStream);
            const protoRows = request.protoRows as Message | undefined;
            const schema = protoRows?.writerSchema as Message | undefined;
            if (schema?.protoDescriptor) type = writerType(schema.protoDescriptor);
            const before = takeFailure(false);
            if (before) throw before;
            const response = await append(streamName, type, request);
            const after = takeFailure(true);
            if (after) throw after;
            call.write({ ...response, writeStream: streamName });
          } catch (error) {
            const status = error instanceof StatusError ? error : asStatus(error);
            call.write({
              error: { code: status.code, message: status.message },
              ...(status.rowErrors.length > 0
                ? {
                    rowErrors: status.rowErrors.map((e) => ({
                      index: String(e.index),
                      code: e.code,
                      message: e.message,
                    })),
                  }
                : {}),
              writeStream: streamName,
            });
          }
        });
      });
      call.on("end", () => {
        void queue.then(() => call.end());
      });
      call.on("error", () => undefined);
    },
  };

  async function append(
    streamName: string,
    type: protobuf.Type | undefined,
    request: Message,
  ): Promise<Message> {
    const match = STREAM_NAME.exec(streamName);
    if (!match) throw new StatusError(grpc.status.INVALID_ARGUMENT, `Invalid stream name: '${streamName}'`);
    const [, projectId, datasetId, tableId, streamId] = match as unknown as [
      string,
      string,
      string,
      string,
      string,
    ];
    const table = tableOf(projectId, datasetId, tableId);
    if (request.arrowRows)
      throw new StatusError(grpc.status.INVALID_ARGUMENT, "The emulator takes proto rows only");
    if (!type)
      throw new StatusError(
        grpc.status.INVALID_ARGUMENT,
        "The first AppendRows request of a connection must carry writer_schema",
      );
    const serialized = (((request.protoRows as Message | undefined)?.rows as Message | undefined)
      ?.serializedRows ?? []) as Buffer[];
    const size = serialized.reduce((n, row) => n + row.length, 0);
    if (size > MAX_APPEND_REQUEST_BYTES) {
      throw new StatusError(
        grpc.status.INVALID_ARGUMENT,
        `AppendRows request too large: ${size} bytes of rows, the limit is ${MAX_APPEND_REQUEST_BYTES} (10 MB)`,
      );
    }
    const where = `${projectId}:${datasetId}.${tableId}`;
    const rows = decodeRows(type, serialized, table.schema, where);
    changes.stats.appendRequests++;
    changes.stats.rowsAppended += rows.length;
    changes.stats.bytesReceived += size;
    const cdc = type.fieldsArray.some((f) => f.name.toUpperCase() === "_CHANGE_TYPE");
    if (streamId === "_default") {
      if (request.offset !== undefined && request.offset !== null) {
        throw new StatusError(grpc.status.INVALID_ARGUMENT, "The default stream does not take offsets");
      }
      if (cdc) {
        const pending = cdcChanges(table, rows, where);
        await catalog.exclusive((c) => changes.receive(c, datasetId, table, pending));
      } else {
        await catalog.exclusive((c) =>
          insertChecked(
            catalog,
            c,
            datasetId,
            tableId,
            rows.map((r) => r.json),
          ),
        );
      }
      return { appendResult: {} };
    }
    const state = streams.get(streamName);
    if (!state) throw new StatusError(grpc.status.NOT_FOUND, `Stream not found: ${streamName}`);
    if (cdc) {
      throw new StatusError(
        grpc.status.INVALID_ARGUMENT,
        `_CHANGE_TYPE is only supported on the default stream (${state.type} stream ${streamName})`,
      );
    }
    if (state.finalized)
      throw new StatusError(grpc.status.INVALID_ARGUMENT, `Stream is finalized: ${streamName}`);
    const offsetValue = (request.offset as Message | undefined)?.value;
    const offset = offsetValue !== undefined ? Number(offsetValue) : undefined;
    if (offset !== undefined && offset > state.rows.length) {
      throw new StatusError(
        grpc.status.OUT_OF_RANGE,
        `Offset ${offset} is beyond the end of stream ${streamName} (${state.rows.length} rows)`,
      );
    }
    if (offset !== undefined && offset < state.rows.length) {
      throw new StatusError(
        grpc.status.ALREADY_EXISTS,
        `Offset ${offset} has already been written to stream ${streamName}`,
      );
    }
    const at = state.rows.length;
    checkRows(table.schema, rows);
    if (state.type === "COMMITTED") {
      await catalog.exclusive((c) =>
        insertChecked(
          catalog,
          c,
          datasetId,
          tableId,
          rows.map((r) => r.json),
        ),
      );
    }
    state.rows.push(...rows.map((r) => r.json));
    return { appendResult: { offset: { value: String(at) } } };
  }

  function cdcChanges(table: TableEntry, rows: DecodedRow[], where: string): PendingChange[] {
    const keys = table.tableConstraints?.primaryKey?.columns;
    if (!keys || keys.length === 0) {
      throw new StatusError(
        grpc.status.INVALID_ARGUMENT,
        `_CHANGE_TYPE needs a primary key on table ${where}: create it with PRIMARY KEY (...) NOT ENFORCED`,
      );
    }
    if (keys.length > MAX_CDC_KEY_COLUMNS) {
      throw new StatusError(
        grpc.status.INVALID_ARGUMENT,
        `The primary key of ${where} has ${keys.length} columns; change data capture supports at most ${MAX_CDC_KEY_COLUMNS}`,
      );
    }
    const fields = keys.map((k) => findField(table.schema, k)!);
    const rowErrors: { index: number; code: string; message: string }[] = [];
    const pending: PendingChange[] = [];
    rows.forEach((row, index) => {
      const fail = (message: string): void => {
        rowErrors.push({ index, code: "FIELDS_ERROR", message });
      };
      const changeType = row.changeType?.toUpperCase();
      if (changeType !== "UPSERT" && changeType !== "DELETE") {
        return fail(`_CHANGE_TYPE must be UPSERT or DELETE (got '${row.changeType ?? ""}')`);
      }
      let sequence;
      if (row.sequenceNumber !== undefined) {
        const parsed = parseChangeSequenceNumber(row.sequenceNumber);
        if ("error" in parsed) return fail(parsed.error);
        sequence = parsed;
      }
      const keyValues = fields.map((f) => row.json.get(f.name) ?? null);
      const missing = fields.filter((f, i) => keyValues[i] === null && !row.columns.has(f.name));
      if (missing.length > 0) return fail(`Primary key column ${missing[0]!.name} is missing from the row`);
      let key: string;
      try {
        key = JSON.stringify(
          fields.map((f, i) => (keyValues[i] === null ? null : canonicalScalar(f, keyValues[i]!, f.name))),
        );
        if (changeType === "UPSERT") checkRows(table.schema, [row]);
      } catch (error) {
        if (error instanceof StatusError) return fail(error.rowErrors[0]?.message ?? error.message);
        if (error instanceof RowValueError) return fail(error.message);
        throw error;
      }
      pending.push({
        type: changeType,
        key,
        keyValues,
        row: row.json,
        ...(sequence ? { sequence } : {}),
        arrival: changes.nextArrival(),
      });
    });
    if (rowErrors.length > 0) {
      throw new StatusError(
        grpc.status.INVALID_ARGUMENT,
        `Errors found while processing rows of ${where}`,
        rowErrors,
      );
    }
    return pending;
  }

  const server = new grpc.Server({
    "grpc.max_receive_message_length": 2 * MAX_APPEND_REQUEST_BYTES,
    "grpc.max_send_message_length": 2 * MAX_APPEND_REQUEST_BYTES,
  });
  server.addService(loadService(), service);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(
      `127.0.0.1:${options.port ?? 0}`,
      grpc.ServerCredentials.createInsecure(),
      (error, bound) => (error ? reject(error) : resolve(bound)),
    );
  });

  return {
    endpoint: `127.0.0.1:${port}`,
    stats: changes.stats,
    changes,
    applyPendingChanges: () => catalog.exclusive((c) => changes.applyAll(c)),
    failNextAppend(options) {
      failures.push({
        code: options.code,
        afterApply: options.afterApply ?? false,
        remaining: options.times ?? 1,
      });
    },
    async close() {
      changes.close();
      await new Promise<void>((resolve) => {
        server.tryShutdown(() => resolve());
        setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 1000).unref();
      });
    },
  };
}

/** Every value checked as insertAll checks it, so a bad row fails its append, not a later apply. */
function checkRows(schema: readonly TableFieldSchema[], rows: readonly DecodedRow[]): void {
  const rowErrors: { index: number; code: string; message: string }[] = [];
  rows.forEach((row, index) => {
    for (const field of schema) {
      try {
        stagedJsonValue(field, row.json.get(field.name), field.name, {
          ignoreUnknownValues: false,
          nested: false,
        });
      } catch (error) {
        if (!(error instanceof RowValueError)) throw error;
        rowErrors.push({ index, code: "FIELDS_ERROR", message: error.message });
        return;
      }
    }
  });
  if (rowErrors.length > 0)
    throw new StatusError(grpc.status.INVALID_ARGUMENT, "Errors found while processing rows", rowErrors);
}

async function insertChecked(
  catalog: BigQueryCatalog,
  connection: Parameters<typeof insertRows>[1],
  datasetId: string,
  tableId: string,
  rows: JsonObject[],
): Promise<void> {
  if (rows.length === 0) return;
  const errors = await insertRows(catalog, connection, datasetId, tableId, rows, {
    skipInvalidRows: false,
    ignoreUnknownValues: false,
  });
  const bad = errors.filter((e) => e.errors.some((x) => x.reason !== "stopped"));
  if (bad.length > 0) {
    throw new StatusError(
      grpc.status.INVALID_ARGUMENT,
      "Errors found while processing rows",
      bad.map((e) => ({ index: e.index, code: "FIELDS_ERROR", message: e.errors[0]?.message ?? "invalid" })),
    );
  }
}

/** The Storage API's TableFieldSchema (types and modes as enum names) for a REST schema field. */
function storageField(field: TableFieldSchema): Message {
  const TYPES: Record<string, string> = {
    INTEGER: "INT64",
    FLOAT: "DOUBLE",
    BOOLEAN: "BOOL",
    RECORD: "STRUCT",
  };
  return {
    name: field.name,
    type: TYPES[field.type] ?? field.type,
    mode: field.mode ?? "NULLABLE",
    ...(field.fields ? { fields: field.fields.map(storageField) } : {}),
  };
}

function timestamp(date: Date): Message {
  return { seconds: String(Math.floor(date.getTime() / 1000)), nanos: (date.getTime() % 1000) * 1_000_000 };
}

function asStatus(error: unknown): StatusError {
  if (error instanceof StatusError) return error;
  if (error instanceof ProtoRowsError) {
    return new StatusError(
      grpc.status.INVALID_ARGUMENT,
      error.message,
      error.rowIndex !== undefined
        ? [{ index: error.rowIndex, code: "FIELDS_ERROR", message: error.message }]
        : [],
    );
  }
  if (error instanceof BigQueryApiError) {
    const code =
      error.code === 404
        ? grpc.status.NOT_FOUND
        : error.code === 400
          ? grpc.status.INVALID_ARGUMENT
          : grpc.status.INTERNAL;
    return new StatusError(code, error.message);
  }
  return new StatusError(grpc.status.INTERNAL, (error as Error).message ?? String(error));
}

function serviceError(error: unknown): grpc.ServiceError {
  const status = asStatus(error);
  return Object.assign(new Error(status.message), {
    code: status.code,
    details: status.message,
    metadata: new grpc.Metadata(),
  });
}
