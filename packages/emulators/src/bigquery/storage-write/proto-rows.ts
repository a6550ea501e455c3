import protobuf from "protobufjs";
import descriptor from "protobufjs/ext/descriptor/index.js";
import {
  JsonArray,
  JsonNumber,
  JsonObject,
  parseExactJson,
  type JsonValue,
} from "sluice/dist/protocol/exact-json.js";
import { findField, formatDate, formatTimestampIso, type TableFieldSchema } from "../bigquery-types.js";

/** The pseudocolumns of change data capture: not table columns, read per row. */
export const CHANGE_TYPE = "_CHANGE_TYPE";
export const CHANGE_SEQUENCE_NUMBER = "_CHANGE_SEQUENCE_NUMBER";

/** One decoded row: the table's columns as insertAll's JSON would carry them, and its CDC pseudocolumns. */
export interface DecodedRow {
  json: JsonObject;
  /** Column names the row set (present in the message), as the table names them. */
  columns: Set<string>;
  changeType?: string;
  sequenceNumber?: string;
}

export class ProtoRowsError extends Error {
  constructor(
    message: string,
    /** The row's index in the request, when one row is at fault. */
    readonly rowIndex?: number,
  ) {
    super(message);
  }
}

type DescriptorModule = { DescriptorProto: protobuf.Type };
type TypeWithDescriptor = typeof protobuf.Type & { fromDescriptor(d: unknown): protobuf.Type };

/**
 * The message type of an AppendRows request's `writer_schema.proto_descriptor` (a self-contained
 * `DescriptorProto`, nested types inside it, as the Storage Write API requires).
 */
export function writerType(protoDescriptor: unknown): protobuf.Type {
  try {
    const message = (descriptor as unknown as DescriptorModule).DescriptorProto.fromObject(
      protoDescriptor as Record<string, unknown>,
    );
    const type = (protobuf.Type as TypeWithDescriptor).fromDescriptor(message);
    // A standalone Type resolves its nested types only inside a root.
    new protobuf.Root().add(type);
    type.resolveAll();
    return type;
  } catch (error) {
    throw new ProtoRowsError(`Invalid proto schema: ${(error as Error).message}`);
  }
}

/**
 * Decodes `serialized_rows` with the writer's type into rows of the table. A field the table does
 * not have is refused (BigQuery: "Input schema has more fields than BigQuery schema"), as is a
 * value the column's type cannot hold (insertRows checks the values themselves).
 */
export function decodeRows(
  type: protobuf.Type,
  serializedRows: readonly Uint8Array[],
  schema: readonly TableFieldSchema[],
  where: string,
): DecodedRow[] {
  for (const field of type.fieldsArray) {
    const name = field.name;
    if (name.toUpperCase() === CHANGE_TYPE || name.toUpperCase() === CHANGE_SEQUENCE_NUMBER) continue;
    if (!findField(schema, name)) {
      throw new ProtoRowsError(
        `Input schema has more fields than BigQuery schema, extra fields: '${name}' (table ${where})`,
      );
    }
  }
  return serializedRows.map((bytes, index) => {
    let message: protobuf.Message;
    try {
      message = type.decode(bytes);
    } catch (error) {
      throw new ProtoRowsError(`Row ${index} could not be decoded: ${(error as Error).message}`, index);
    }
    const object = type.toObject(message, { longs: String, bytes: String, defaults: false }) as Record<
      string,
      unknown
    >;
    const members = new Map<string, JsonValue>();
    const columns = new Set<string>();
    const row: DecodedRow = { json: new JsonObject(members, ""), columns };
    for (const [name, value] of Object.entries(object)) {
      const upper = name.toUpperCase();
      if (upper === CHANGE_TYPE) row.changeType = String(value);
      else if (upper === CHANGE_SEQUENCE_NUMBER) row.sequenceNumber = String(value);
      else {
        const field = findField(schema, name)!;
        columns.add(field.name);
        members.set(field.name, jsonOf(field, value, index));
      }
    }
    return row;
  });
}

/**
 * A proto value as the JSON insertAll takes for the column, following the Storage Write API's
 * type mapping (https://cloud.google.com/bigquery/docs/write-api#data_type_conversions):
 * TIMESTAMP is int64 microseconds, DATE int32 days since the epoch, NUMERIC/BIGNUMERIC, DATETIME,
 * TIME, GEOGRAPHY and JSON strings, BYTES bytes.
 */
function jsonOf(field: TableFieldSchema, value: unknown, row: number): JsonValue {
  if (value === null || value === undefined) return null;
  if (field.mode === "REPEATED" && Array.isArray(value)) {
    return new JsonArray(
      value.map((v) => jsonOf({ ...field, mode: "NULLABLE" }, v, row)),
      "",
    );
  }
  if (field.type === "RECORD") {
    const members = new Map<string, JsonValue>();
    for (const [name, v] of Object.entries(value as Record<string, unknown>)) {
      const child = findField(field.fields ?? [], name);
      if (!child) throw new ProtoRowsError(`Field ${field.name}.${name} is not in the table's schema`, row);
      members.set(child.name, jsonOf(child, v, row));
    }
    return new JsonObject(members, "");
  }
  switch (field.type) {
    case "TIMESTAMP":
      if (typeof value === "string" && /^-?\d+$/.test(value)) return formatTimestampIso(BigInt(value));
      break;
    case "DATE":
      if (typeof value === "number") return formatDate(value);
      break;
    case "INTEGER":
      if (typeof value === "string" || typeof value === "number") return new JsonNumber(String(value));
      break;
    case "FLOAT":
      if (typeof value === "number")
        return Number.isFinite(value) ? new JsonNumber(String(value)) : String(value);
      break;
    case "BOOLEAN":
      if (typeof value === "boolean") return value;
      break;
    case "JSON":
      if (typeof value === "string") {
        try {
          return parseExactJson(value);
        } catch {
          throw new ProtoRowsError(`Field ${field.name}: invalid JSON value`, row);
        }
      }
      break;
    default:
      if (typeof value === "string") return value;
  }
  throw new ProtoRowsError(
    `Field ${field.name} of type ${field.type} cannot be written from a proto value of type ${typeof value}`,
    row,
  );
}
