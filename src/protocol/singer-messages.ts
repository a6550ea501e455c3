/**
 * The Singer messages (https://hub.meltano.com/singer/spec) as typed values, and their JSON-lines
 * form. Pure data, no I/O: `singer-reader.ts` reads them from a stream, `singer-writer.ts` writes
 * them to one.
 *
 * Values a message carries through (a RECORD's record, a STATE's value) stay as `exact-json`
 * values, so numbers beyond double precision and nested documents pass through unchanged.
 */
import { formatSchemaJson, type JsonSchema } from "./catalog.js";
import { JsonArray, JsonNumber, JsonObject, sourceOf, toPlain, type JsonValue } from "./exact-json.js";

export interface SchemaMessage {
  type: "SCHEMA";
  stream: string;
  schema: JsonSchema;
  keyProperties: string[];
  bookmarkProperties?: string[];
}

export interface RecordMessage {
  type: "RECORD";
  stream: string;
  record: JsonObject;
  version?: number;
  timeExtracted?: string;
}

export interface StateMessage {
  type: "STATE";
  /** The state, exactly as received. */
  value: JsonValue;
}

export interface ActivateVersionMessage {
  type: "ACTIVATE_VERSION";
  stream: string;
  version: number;
}

export interface BatchMessage {
  type: "BATCH";
  stream: string;
  encoding: { format: string; compression?: string };
  manifest: string[];
}

export type SingerMessage =
  SchemaMessage | RecordMessage | StateMessage | ActivateVersionMessage | BatchMessage;

export type SingerMessageType = SingerMessage["type"];

/** Why a parsed line is not a valid message; the reader adds the plugin and line number. */
export class InvalidMessageError extends Error {}

/** An unknown `type`: the reader warns and skips the line. */
export class UnknownMessageType {
  constructor(readonly type: string) {}
}

/** Turns one parsed JSON line into a message; throws InvalidMessageError. */
export function decodeSingerMessage(value: JsonValue): SingerMessage | UnknownMessageType {
  if (!(value instanceof JsonObject)) throw new InvalidMessageError("a message must be a JSON object");
  const type = value.get("type");
  if (typeof type !== "string") throw new InvalidMessageError('a message needs a string "type"');
  switch (type) {
    case "SCHEMA": {
      const schema = value.get("schema");
      if (!(schema instanceof JsonObject)) throw new InvalidMessageError('SCHEMA needs an object "schema"');
      const bookmarkProperties = optionalStrings(value, "bookmark_properties");
      return {
        type,
        stream: requiredString(value, "stream", type),
        schema: toPlain(schema) as JsonSchema,
        keyProperties: optionalStrings(value, "key_properties") ?? [],
        ...(bookmarkProperties ? { bookmarkProperties } : {}),
      };
    }
    case "RECORD": {
      const record = value.get("record");
      if (!(record instanceof JsonObject)) throw new InvalidMessageError('RECORD needs an object "record"');
      const version = optionalVersion(value);
      const timeExtracted = value.get("time_extracted");
      return {
        type,
        stream: requiredString(value, "stream", type),
        record,
        ...(version !== undefined ? { version } : {}),
        ...(typeof timeExtracted === "string" ? { timeExtracted } : {}),
      };
    }
    case "STATE": {
      const state = value.get("value");
      if (state === undefined) throw new InvalidMessageError('STATE needs a "value"');
      return { type, value: state };
    }
    case "ACTIVATE_VERSION": {
      const version = optionalVersion(value);
      if (version === undefined) throw new InvalidMessageError('ACTIVATE_VERSION needs an integer "version"');
      return { type, stream: requiredString(value, "stream", type), version };
    }
    case "BATCH": {
      const encoding = value.get("encoding");
      const manifest = optionalStrings(value, "manifest");
      if (!(encoding instanceof JsonObject) || typeof encoding.get("format") !== "string" || !manifest) {
        throw new InvalidMessageError('BATCH needs "encoding" {"format": ...} and a "manifest" list');
      }
      const compression = encoding.get("compression");
      return {
        type,
        stream: requiredString(value, "stream", type),
        encoding: {
          format: encoding.get("format") as string,
          ...(typeof compression === "string" ? { compression } : {}),
        },
        manifest,
      };
    }
    default:
      return new UnknownMessageType(type);
  }
}

function requiredString(message: JsonObject, key: string, type: string): string {
  const value = message.get(key);
  if (typeof value !== "string" || value === "") {
    throw new InvalidMessageError(`${type} needs a string "${key}"`);
  }
  return value;
}

function optionalStrings(message: JsonObject, key: string): string[] | undefined {
  const value = message.get(key);
  if (value === undefined || value === null) return undefined;
  if (!(value instanceof JsonArray) || value.items.some((item) => typeof item !== "string")) {
    throw new InvalidMessageError(`"${key}" must be a list of strings`);
  }
  return value.items as string[];
}

function optionalVersion(message: JsonObject): number | undefined {
  const value = message.get("version");
  if (value === undefined || value === null) return undefined;
  const version = value instanceof JsonNumber ? value.toNumber() : Number.NaN;
  if (!Number.isSafeInteger(version)) throw new InvalidMessageError('"version" must be an integer');
  return version;
}

// --- JSON-lines form -----------------------------------------------------------------------

/** A SCHEMA line; bigint's bounds exact (`formatSchemaJson`). */
export function formatSchemaMessage(message: Omit<SchemaMessage, "type">): string {
  return formatSchemaJson({
    type: "SCHEMA",
    stream: message.stream,
    schema: message.schema,
    key_properties: message.keyProperties,
    ...(message.bookmarkProperties ? { bookmark_properties: message.bookmarkProperties } : {}),
  });
}

/**
 * A RECORD line around a record that is already JSON text (as `batchRowsAsJson` makes it), so
 * its numbers are written exactly as they were read.
 */
export function formatRecordMessage(options: {
  stream: string;
  recordJson: string;
  version?: number;
  timeExtracted?: string;
}): string {
  return (
    `{"type":"RECORD","stream":${JSON.stringify(options.stream)},"record":${options.recordJson}` +
    (options.version !== undefined ? `,"version":${options.version}` : "") +
    (options.timeExtracted !== undefined
      ? `,"time_extracted":${JSON.stringify(options.timeExtracted)}`
      : "") +
    "}"
  );
}

/** A STATE line; `value` is a plain value or an exact one (written as received). */
export function formatStateMessage(value: unknown): string {
  return `{"type":"STATE","value":${exactOrPlain(value)}}`;
}

export function formatActivateVersionMessage(stream: string, version: number): string {
  return JSON.stringify({ type: "ACTIVATE_VERSION", stream, version });
}

function exactOrPlain(value: unknown): string {
  if (value instanceof JsonObject || value instanceof JsonArray || value instanceof JsonNumber) {
    return sourceOf(value);
  }
  return JSON.stringify(value);
}
