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
