import readline from "node:readline";
import fs from "node:fs";
import type { managedwriter as ManagedWriter } from "@google-cloud/bigquery-storage";
import { ConfigError, ConnectionError, DataError } from "../../errors.js";
import {
  JsonArray,
  JsonNumber,
  JsonObject,
  parseExactJson,
  stringifyExact,
  type JsonValue,
} from "../../protocol/exact-json.js";
import { DELETED_AT_COLUMN, SEQUENCE_COLUMN, UNCHANGED_COLUMN } from "../batch.js";
import type { MergePlan } from "../loader-core/merge-plan.js";
import type { TableField } from "./bigquery-types.js";

/**
 * Change data capture through the Storage Write API: another renderer of the loader core's merge
 * plan (merge-plan.ts). A batch is reduced to one change per key in the plan's order (newest
 * `_sdc_sequence` wins; a field a change did not carry comes from the key's newest earlier row in
 * the batch that carried it), then sent to the table's default stream as protobuf rows with
 * BigQuery's pseudocolumns (https://cloud.google.com/bigquery/docs/change-data-capture):
 * `_CHANGE_TYPE` UPSERT (the whole row, which BigQuery stores as it is) or DELETE (the key, with
 * `hard_delete`), and `_CHANGE_SEQUENCE_NUMBER`, the `_sdc_sequence` in hexadecimal, so BigQuery
 * orders a key's changes as the core does, across batches and runs, and a batch sent twice (the
 * default stream is at-least-once: a write retried after a lost answer) changes nothing.
 *
 * An UPSERT replaces the whole row, so a change must be complete, and BigQuery refuses UPDATE,
 * DELETE and MERGE on a table that receives these changes ("CDC-enabled tables don't support ...
 * mutating data manipulation language (DML) statements such as DELETE, UPDATE, and MERGE",
 * https://cloud.google.com/bigquery/docs/change-data-capture#limitations): a change that is not
 * complete cannot be merged there instead, and reading the stored row with a query is not exact
 * either (a query of a table with `max_staleness` may not see the changes already sent). So the
 * loader sends a stream here only when its source says every change carries the whole row
 * (`StreamSchema.wholeRowChanges`: PostgreSQL's REPLICA IDENTITY FULL, where a delete carries the
 * deleted row, so a soft delete is an UPSERT of that row with `_sdc_deleted_at` set); other
 * streams are merged. A change that still comes without a value (the replica identity changed
 * since) is refused with what to do (`incomplete`), before anything is sent. A table column the
 * stream no longer has (the source dropped it) is NULL in the rows an UPSERT replaces, as in new
 * rows.
 */

/** One change of a batch, ready for the default stream. */
export interface StorageWriteChange {
  /** Column → value, as the JSON writer encodes it (see `protoValue`). */
  row: Record<string, unknown>;
  /** The batch row it came from (1-based), for messages. */
  batchRow: number;
}

/** What the NDJSON of a batch holds besides the table's columns. */
interface ReduceInput {
  ndjson: string;
  plan: MergePlan;
  /** Batch column index → BigQuery column name (stream columns). */
  columnsByIndex: ReadonlyMap<number, string>;
  fields: readonly TableField[];
}

/** A change that does not carry a column's value: the first such of a batch. */
export interface IncompleteChange {
  /** The batch row (1-based) of the key's newest change. */
  batchRow: number;
  /** BigQuery column names whose value the change does not carry. */
  columns: string[];
  /** The change is a delete (carrying only the key, under a key-only replica identity). */
  delete: boolean;
}

/**
 * The batch's changes, one per key, complete; or the first change that is not (see above).
 */
export async function reduceChanges(
  input: ReduceInput,
): Promise<{ changes: StorageWriteChange[] } | { incomplete: IncompleteChange }> {
  const { plan } = input;
  const keyNames = plan.keys;
  const valueNames = plan.values.map((c) => c.name);
  interface Folded {
    sequence: bigint;
    values: Map<string, JsonValue>;
    /** Columns whose value is not known (not carried by any row of the key so far). */
    unknown: Set<string>;
    deletedAt: JsonValue;
    batchRow: number;
  }
  const lines: { sequence: bigint; object: JsonObject; batchRow: number }[] = [];
  const reader = readline.createInterface({ input: fs.createReadStream(input.ndjson), crlfDelay: Infinity });
  let n = 0;
  for await (const line of reader) {
    if (line === "") continue;
    const object = parseExactJson(line);
    if (!(object instanceof JsonObject)) continue;
    const sequence = object.get(SEQUENCE_COLUMN);
    lines.push({
      sequence: BigInt(sequence instanceof JsonNumber ? sequence.text : String(sequence as string)),
      object,
      batchRow: ++n,
    });
  }
  lines.sort((a, b) =>
    a.sequence < b.sequence ? -1 : a.sequence > b.sequence ? 1 : a.batchRow - b.batchRow,
  );
  const byKey = new Map<string, Folded>();
  for (const { sequence, object, batchRow } of lines) {
    const key = JSON.stringify(keyNames.map((k) => stringifyExact(object.get(k) ?? null)));
    const previous = byKey.get(key);
    const left = new Set(
      String((object.get(UNCHANGED_COLUMN) as string | null | undefined) ?? "")
        .split(",")
        .filter((s) => s !== "")
        .map((s) => input.columnsByIndex.get(Number(s)))
        .filter((s): s is string => s !== undefined),
    );
    const values = new Map<string, JsonValue>();
    const unknown = new Set<string>();
    for (const name of [...keyNames, ...valueNames]) {
      if (left.has(name)) {
        if (previous && !previous.unknown.has(name)) values.set(name, previous.values.get(name) ?? null);
        else unknown.add(name);
      } else values.set(name, object.get(name) ?? null);
    }
    byKey.set(key, { sequence, values, unknown, deletedAt: object.get(DELETED_AT_COLUMN) ?? null, batchRow });
  }
  const changes: StorageWriteChange[] = [];
  const fieldOf = new Map(input.fields.map((f) => [f.name.toLowerCase(), f]));
  for (const folded of byKey.values()) {
    const deleted = folded.deletedAt !== null;
    const row: Record<string, unknown> = {};
    const put = (name: string, value: JsonValue): void => {
      const field = fieldOf.get(name.toLowerCase());
      if (field) row[field.name] = protoValue(field, value, folded.batchRow);
    };
    for (const name of keyNames) put(name, folded.values.get(name) ?? null);
    if (deleted && plan.hardDelete) {
      row._CHANGE_TYPE = "DELETE";
    } else {
      if (folded.unknown.size > 0)
        return { incomplete: { batchRow: folded.batchRow, columns: [...folded.unknown], delete: deleted } };
      for (const name of valueNames) put(name, folded.values.get(name) ?? null);
      if (plan.writesDeletedAt) put(DELETED_AT_COLUMN, folded.deletedAt);
      if (plan.writesSequence) put(SEQUENCE_COLUMN, new JsonNumber(String(folded.sequence)));
      row._CHANGE_TYPE = "UPSERT";
    }
    row._CHANGE_SEQUENCE_NUMBER = folded.sequence.toString(16).toUpperCase();
    changes.push({ row, batchRow: folded.batchRow });
  }
  return { changes };
}

/**
 * A value of the batch's NDJSON (as a load job reads it) in the form the Storage Write API's
 * protobuf rows take it (https://cloud.google.com/bigquery/docs/write-api#data_type_conversions):
 * TIMESTAMP as int64 microseconds since the epoch, DATE as int32 days, INT64 as its digits (a
 * JavaScript number would round), NUMERIC, BIGNUMERIC, DATETIME, TIME, GEOGRAPHY and JSON as
 * strings, BYTES as base64 (the encoder decodes it), FLOAT64 as a number.
 */
export function protoValue(field: TableField, value: JsonValue, batchRow: number): unknown {
  if (value === null) return null;
  // A REPEATED field takes its elements one by one, ARRAY<JSON> too (json[], jsonb[]): each
  // element its own JSON text, not the whole array as one string.
  if (field.mode === "REPEATED") {
    if (!(value instanceof JsonArray)) throw invalidValue(field, value, batchRow);
    const element = { ...field, mode: "NULLABLE" };
    return value.items.map((item) => protoValue(element, item, batchRow));
  }
  if (value instanceof JsonArray && field.type !== "JSON") throw invalidValue(field, value, batchRow);
  const text = value instanceof JsonNumber ? value.text : typeof value === "string" ? value : undefined;
  switch (field.type) {
    case "JSON":
      return stringifyExact(value);
    case "BOOLEAN":
    case "BOOL":
      return value === true || text === "true";
    case "FLOAT":
    case "FLOAT64":
      return Number(text);
    case "TIMESTAMP": {
      const micros = text !== undefined ? timestampMicros(text) : undefined;
      if (micros === undefined) throw invalidValue(field, value, batchRow);
      return micros.toString();
    }
    case "DATE": {
      const match = text !== undefined ? /^(\d{4})-(\d\d)-(\d\d)$/.exec(text) : null;
      if (!match) throw invalidValue(field, value, batchRow);
      return utcMillis(Number(match[1]), Number(match[2]), Number(match[3])) / 86_400_000;
    }
    default:
      if (text === undefined) throw invalidValue(field, value, batchRow);
      return text;
  }
}

function invalidValue(field: TableField, value: JsonValue, batchRow: number): DataError {
  return new DataError(
    `target-bigquery: batch row ${batchRow}, column ${field.name}: ${stringifyExact(value)} is not a ${field.type} value the Storage Write API takes`,
  );
}

/** `2024-01-31 12:00:00.5+00:00` (or `T`, `Z`, no zone: UTC) → microseconds since the epoch. */
export function timestampMicros(text: string): bigint | undefined {
  const match =
    /^(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?\s*(Z|UTC|[+-]\d\d(?::?\d\d)?)?$/i.exec(
      text.trim(),
    );
  if (!match) return undefined;
  const [, y, mo, d, h, mi, s, fraction = "", zone = "Z"] = match;
  const seconds = BigInt(
    utcMillis(Number(y), Number(mo), Number(d), Number(h), Number(mi), Number(s)) / 1000,
  );
  let offsetMinutes = 0n;
  if (!/^(z|utc)$/i.test(zone)) {
    const sign = zone.startsWith("-") ? -1n : 1n;
    const digits = zone.slice(1).replace(":", "");
    offsetMinutes =
      sign * (BigInt(Number(digits.slice(0, 2))) * 60n + BigInt(Number(digits.slice(2) || "0")));
  }
  return (seconds - offsetMinutes * 60n) * 1_000_000n + BigInt(fraction.padEnd(6, "0"));
}

/** NOTE: `Date.UTC` reads years 0-99 as 1900-1999; setUTCFullYear takes the year as it is. */
function utcMillis(year: number, month: number, day: number, hours = 0, minutes = 0, seconds = 0): number {
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hours, minutes, seconds, 0);
  return date.getTime();
}

/** Where the Storage Write API is, and how to reach it. */
export interface StorageWriteTarget {
  projectId: string;
  apiEndpoint?: string;
  storageWriteEndpoint?: string;
  credentialsFile?: string;
}

/**
 * The official client (`managedwriter.WriterClient`) for Google's endpoint, or for an emulator:
 * `storage_write_endpoint` when set, else what an `http://` `api_endpoint` says at
 * `/emulator/storage-write` (sluice's emulator serves its gRPC address there), plaintext.
 */
export async function openWriterClient(target: StorageWriteTarget): Promise<ManagedWriter.WriterClient> {
  const { managedwriter } = await import("@google-cloud/bigquery-storage");
  let endpoint = target.storageWriteEndpoint;
  if (!endpoint && target.apiEndpoint?.startsWith("http://")) {
    const where = `${target.apiEndpoint}/emulator/storage-write`;
    try {
      const response = await fetch(where);
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      endpoint = String(((await response.json()) as { endpoint?: unknown }).endpoint ?? "");
    } catch (error) {
      throw new ConfigError(
        `target-bigquery: api_endpoint ${target.apiEndpoint} does not say where its Storage Write API is (GET ${where}: ${(error as Error).message}); set storage_write_endpoint (host:port), or cdc_method: merge`,
        { cause: error },
      );
    }
  }
  if (endpoint) {
    const [grpc, { OAuth2Client }] = await Promise.all([
      import("@grpc/grpc-js"),
      import("google-auth-library"),
    ]);
    const [host, port] = endpoint.split(":") as [string, string];
    return new managedwriter.WriterClient({
      projectId: target.projectId,
      apiEndpoint: host,
      port: Number(port),
      sslCreds: grpc.credentials.createInsecure(),
      // NOTE: without an auth client google-auth-library probes the GCE metadata server and
      // prints a MetadataLookupWarning; plaintext to an emulator sends no credentials anyway.
      // google-gax types its own copy of google-auth-library; the object is the same kind.
      authClient: new OAuth2Client({ credentials: { access_token: "emulator" } }) as never,
    });
  }
  return new managedwriter.WriterClient({
    projectId: target.projectId,
    ...(target.credentialsFile ? { keyFilename: target.credentialsFile } : {}),
  });
}

/** gRPC codes that say "try again": the runner writes the batch again (sequence numbers make it idempotent). */
const TRANSIENT_CODES = new Set([4, 8, 10, 13, 14]); // DEADLINE_EXCEEDED RESOURCE_EXHAUSTED ABORTED INTERNAL UNAVAILABLE

/** Most bytes of rows in one AppendRows request: BigQuery refuses more than 10 MB. */
const MAX_REQUEST_BYTES = 8 * 1024 * 1024;

/**
 * Sends `changes` to the table's default stream and resolves once BigQuery acknowledged every
 * request: only then may the runner commit the batch's state.
 */
export async function appendChanges(options: {
  client: ManagedWriter.WriterClient;
  table: string;
  fields: readonly TableField[];
  changes: readonly StorageWriteChange[];
  where: string;
}): Promise<{ bytesSent: number }> {
  const { managedwriter, adapt } = await import("@google-cloud/bigquery-storage");
  const storageSchema = adapt.convertBigQuerySchemaToStorageTableSchema({
    fields: [
      ...options.fields,
      { name: "_CHANGE_TYPE", type: "STRING", mode: "NULLABLE" },
      { name: "_CHANGE_SEQUENCE_NUMBER", type: "STRING", mode: "NULLABLE" },
    ],
  } as Parameters<typeof adapt.convertBigQuerySchemaToStorageTableSchema>[0]);
  const descriptor = adapt.convertStorageSchemaToProto2Descriptor(storageSchema, "root");
  const streamId = `${options.table}/streams/_default`;
  let connection;
  try {
    connection = await options.client.createStreamConnection({ streamId });
  } catch (error) {
    throw storageWriteError(error, `opening the default stream of ${options.where}`);
  }
  const writer = new managedwriter.JSONWriter({ connection, protoDescriptor: descriptor });
  // The client sends a request again itself when the answer says UNAVAILABLE, ABORTED, ...: on the
  // default stream that may apply a change twice, which its sequence number makes harmless.
  options.client.enableWriteRetries(true);
  let bytesSent = 0;
  try {
    const pending: { write: ReturnType<typeof writer.appendRows>; first: number; count: number }[] = [];
    let start = 0;
    while (start < options.changes.length) {
      let size = 0;
      let end = start;
      while (end < options.changes.length && (end === start || size < MAX_REQUEST_BYTES)) {
        size += JSON.stringify(options.changes[end]!.row).length;
        end++;
      }
      const rows = options.changes.slice(start, end).map((c) => c.row) as Parameters<
        typeof writer.appendRows
      >[0];
      pending.push({ write: writer.appendRows(rows), first: start, count: end - start });
      start = end;
    }
    for (const { write, first } of pending) {
      let result;
      try {
        result = await write.getResult();
      } catch (error) {
        throw storageWriteError(error, `appending changes to ${options.where}`);
      }
      const request = write.getRequest();
      bytesSent += (request.protoRows?.rows?.serializedRows ?? []).reduce(
        (n, r) => n + (r as Uint8Array).length,
        0,
      );
      if (result.error) {
        const rowErrors = (result.rowErrors ?? []).map((e) => {
          const change = options.changes[first + Number(e.index ?? 0)];
          return `batch row ${change?.batchRow ?? "?"}: ${e.message ?? ""}`;
        });
        const message = `target-bigquery: the Storage Write API refused changes to ${options.where}: ${result.error.message ?? ""}${rowErrors.length > 0 ? `\n${rowErrors.slice(0, 10).join("\n")}` : ""}`;
        if (TRANSIENT_CODES.has(Number(result.error.code)))
          throw new ConnectionError(message, { transient: true });
        throw new DataError(message);
      }
    }
  } finally {
    writer.close();
  }
  return { bytesSent };
}

function storageWriteError(error: unknown, action: string): Error {
  const code = (error as { code?: unknown }).code;
  const message = `target-bigquery: ${action} through the Storage Write API failed: ${(error as Error).message ?? String(error)}`;
  if (typeof code === "number" && TRANSIENT_CODES.has(code))
    return new ConnectionError(message, { cause: error, transient: true });
  if (code === 7 || code === 16)
    return new ConfigError(
      `${message} (check the credentials can write the table: bigquery.tables.updateData)`,
      { cause: error },
    );
  return new DataError(message, { cause: error });
}
