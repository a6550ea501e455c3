/**
 * The Singer catalog as taps print it with `--discover` and Meltano edits it with `select` and
 * `metadata`: plain data, no I/O. See https://hub.meltano.com/singer/spec#catalog-files.
 */
export type JsonSchema = {
  type?: string | string[];
  format?: string;
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  multipleOf?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  anyOf?: JsonSchema[];
  additionalProperties?: boolean | JsonSchema;
  [extra: string]: unknown;
};

/** `breadcrumb: []` is the stream itself; `["properties", "<column>"]` a column. */
export interface MetadataEntry {
  breadcrumb: string[];
  metadata: Record<string, unknown>;
}

export interface CatalogStream {
  tap_stream_id: string;
  stream: string;
  table_name?: string;
  schema: JsonSchema;
  key_properties?: string[];
  replication_method?: string;
  replication_key?: string;
  metadata: MetadataEntry[];
}

export interface Catalog {
  streams: CatalogStream[];
}

/**
 * JSON text of a catalog, a SCHEMA message or any value holding JSON schemas, indented or not.
 * An integer schema's `minimum`/`maximum` of -2^63/2^63 (bigint's bounds as a double holds them)
 * is written as bigint's exact bound: `JSON.stringify` would write 9223372036854776000, past
 * bigint, and pipelinewise-target-postgres would then make the column `character varying`
 * instead of `bigint`.
 */
export function formatSchemaJson(value: unknown, indent?: number): string {
  // A NUL and a random tag: no string of the value can be mistaken for a marker.
  const tag = Math.random().toString(36).slice(2, 10);
  const text = JSON.stringify(
    value,
    function (this: Record<string, unknown>, key: string, item: unknown) {
      if ((key === "minimum" || key === "maximum") && isIntegerSchema(this)) {
        if (item === -(2 ** 63)) return `\u0000${tag}:-9223372036854775808`;
        if (item === 2 ** 63) return `\u0000${tag}:9223372036854775807`;
      }
      return item;
    },
    indent,
  );
  return text.replace(new RegExp(`"\\\\u0000${tag}:(-?\\d+)"`, "g"), "$1");
}

function isIntegerSchema(schema: Record<string, unknown>): boolean {
  const type = schema.type;
  return type === "integer" || (Array.isArray(type) && type.includes("integer") && !type.includes("number"));
}

export function streamMetadata(stream: CatalogStream): Record<string, unknown> {
  return stream.metadata.find((m) => m.breadcrumb.length === 0)?.metadata ?? {};
}

export function propertyMetadata(stream: CatalogStream, property: string): Record<string, unknown> {
  return (
    stream.metadata.find(
      (m) => m.breadcrumb.length === 2 && m.breadcrumb[0] === "properties" && m.breadcrumb[1] === property,
    )?.metadata ?? {}
  );
}
