import { describe, expect, it } from "vitest";

import { ConfigError } from "../../../src/errors.js";
import type { Catalog, CatalogStream, JsonSchema, MetadataEntry } from "../../../src/protocol/catalog.js";
import { propertyMetadata, streamMetadata } from "../../../src/protocol/catalog.js";
import {
  applySelection,
  listSelection,
  narrowToStreams,
  selectedProperties,
  selectedStreams,
} from "../../../src/protocol/selection.js";

/** A stream shaped like discovery output: stream entry, then one entry per top-level column. */
function stream(
  id: string,
  columns: Record<string, JsonSchema>,
  inclusion: Record<string, "automatic" | "available" | "unsupported">,
): CatalogStream {
  const metadata: MetadataEntry[] = [
    { breadcrumb: [], metadata: { "table-key-properties": ["id"], "selected-by-default": false } },
    ...Object.keys(columns).map((name) => ({
      breadcrumb: ["properties", name],
      metadata: { inclusion: inclusion[name] ?? "available", "selected-by-default": true },
    })),
  ];
  return {
    tap_stream_id: id,
    stream: id.split("-").slice(1).join("-"),
    schema: { type: "object", properties: columns },
    key_properties: ["id"],
    metadata,
  };
}

function catalog(): Catalog {
  return {
    streams: [
      stream(
        "public-accounts",
        {
          id: { type: ["integer"] },
          name: { type: ["string", "null"] },
          email: { type: ["string", "null"] },
          created_at: { type: ["string", "null"], format: "date-time" },
        },
        { id: "automatic" },
      ),
      stream(
        "public-events",
        {
          id: { type: ["integer"] },
          account_id: { type: ["integer", "null"] },
          kind: { type: ["string", "null"], maxLength: 20 },
          payload: {
            type: ["object", "null"],
            properties: { source: { type: ["string", "null"] }, ip: { type: ["string", "null"] } },
          },
          updated_at: { type: ["string", "null"], format: "date-time" },
        },
        { id: "automatic" },
      ),
      stream(
        "sales-orders",
        {
          id: { type: ["integer"] },
          total: { type: ["number", "null"] },
          legacy_blob: {},
          created_at: { type: ["string", "null"], format: "date-time" },
        },
        { id: "automatic", legacy_blob: "unsupported" },
      ),
    ],
  };
}

function streamOf(c: Catalog, id: string): CatalogStream {
  const found = c.streams.find((s) => s.tap_stream_id === id);
  if (found === undefined) throw new Error(`no stream ${id}`);
  return found;
}

/** `{streamId: [selected top-level properties]}` for the selected streams only. */
function selection(c: Catalog): Record<string, string[]> {
  return Object.fromEntries(selectedStreams(c).map((s) => [s.tap_stream_id, selectedProperties(s)]));
}

describe("applySelection: select", () => {
  it("selects every stream and property when select is absent (Meltano's *.*)", () => {
    const result = applySelection(catalog(), {});
    expect(selection(result.catalog)).toEqual({
      "public-accounts": ["id", "name", "email", "created_at"],
      "public-events": ["id", "account_id", "kind", "payload", "updated_at"],
      "sales-orders": ["id", "total", "created_at"],
    });
    expect(result.unmatchedSelect).toEqual([]);
  });

  it("selects nothing when select is an empty list", () => {
    const result = applySelection(catalog(), { select: [] });
    expect(selectedStreams(result.catalog)).toEqual([]);
    for (const s of result.catalog.streams) expect(streamMetadata(s).selected).toBe(false);
  });

  it("writes an explicit selected on every stream and property entry", () => {
    const result = applySelection(catalog(), { select: ["public-accounts.name"] });
    const accounts = streamOf(result.catalog, "public-accounts");
    expect(streamMetadata(accounts).selected).toBe(true);
    expect(propertyMetadata(accounts, "id").selected).toBe(true);
    expect(propertyMetadata(accounts, "name").selected).toBe(true);
    expect(propertyMetadata(accounts, "email").selected).toBe(false);
    expect(streamMetadata(streamOf(result.catalog, "sales-orders")).selected).toBe(false);
    expect(propertyMetadata(streamOf(result.catalog, "sales-orders"), "total").selected).toBe(false);
  });

  it("matches streams with * globs on the tap_stream_id", () => {
    const result = applySelection(catalog(), { select: ["public-*.*"] });
    expect(Object.keys(selection(result.catalog))).toEqual(["public-accounts", "public-events"]);
  });

  it("matches ? and [...] globs on streams and properties", () => {
    const result = applySelection(catalog(), {
      select: ["sales-order?.tota[l]", "public-account[!x].[ne]*"],
    });
    expect(selection(result.catalog)).toEqual({
      "public-accounts": ["id", "name", "email"],
      "sales-orders": ["id", "total"],
    });
  });

  it("does not match a glob case-insensitively or partially", () => {
    const result = applySelection(catalog(), { select: ["PUBLIC-ACCOUNTS.*", "public-account.*"] });
    expect(selectedStreams(result.catalog)).toEqual([]);
    expect(result.unmatchedSelect).toEqual(["PUBLIC-ACCOUNTS.*", "public-account.*"]);
  });

  it("lets an exclusion win over an inclusion whatever their order", () => {
    for (const select of [
      ["public-accounts.*", "!public-accounts.email"],
      ["!public-accounts.email", "public-accounts.*"],
    ]) {
      const result = applySelection(catalog(), { select });
      expect(selection(result.catalog)).toEqual({ "public-accounts": ["id", "name", "created_at"] });
    }
  });

  it("keeps automatic columns even when they are excluded", () => {
    const result = applySelection(catalog(), { select: ["public-accounts.*", "!public-accounts.id"] });
    const accounts = streamOf(result.catalog, "public-accounts");
    expect(selectedProperties(accounts)).toEqual(["id", "name", "email", "created_at"]);
    expect(propertyMetadata(accounts, "id").selected).toBe(true);
  });

  it("never selects an unsupported column, not even through metadata", () => {
    const result = applySelection(catalog(), {
      select: ["sales-orders.*", "sales-orders.legacy_blob"],
      metadata: { "sales-orders": { legacy_blob: { selected: true } } },
    });
    const orders = streamOf(result.catalog, "sales-orders");
    expect(selectedProperties(orders)).toEqual(["id", "total", "created_at"]);
    expect(propertyMetadata(orders, "legacy_blob").selected).toBe(false);
  });

  it("deselects a whole stream with !stream.* or !stream", () => {
    for (const exclusion of ["!sales-orders.*", "!sales-orders"]) {
      const result = applySelection(catalog(), { select: ["*.*", exclusion] });
      expect(Object.keys(selection(result.catalog))).toEqual(["public-accounts", "public-events"]);
      expect(streamMetadata(streamOf(result.catalog, "sales-orders")).selected).toBe(false);
    }
  });

  it("keeps the stream selected when only one of its properties is excluded", () => {
    const result = applySelection(catalog(), { select: ["sales-orders.*", "!sales-orders.total"] });
    expect(selection(result.catalog)).toEqual({ "sales-orders": ["id", "created_at"] });
  });

  it("reads a stream without a property part as <stream>.*", () => {
    const result = applySelection(catalog(), { select: ["public-events"] });
    expect(selection(result.catalog)).toEqual({
      "public-events": ["id", "account_id", "kind", "payload", "updated_at"],
    });
  });

  it("selects the stream (with its automatic columns) even when the property matches nothing", () => {
    const result = applySelection(catalog(), { select: ["public-accounts.nope_*"] });
    expect(selection(result.catalog)).toEqual({ "public-accounts": ["id"] });
  });

  it("selects a nested property and the object that contains it", () => {
    const result = applySelection(catalog(), { select: ["public-events.payload.source"] });
    const events = streamOf(result.catalog, "public-events");
    expect(selectedProperties(events)).toEqual(["id", "payload"]);
    const nested = listSelection(result.catalog).find((s) => s.streamId === "public-events")?.properties;
    expect(nested?.filter((p) => p.name.startsWith("payload"))).toEqual([
      { name: "payload", selected: true, inclusion: "available" },
      { name: "payload.source", selected: true, inclusion: "available" },
      { name: "payload.ip", selected: false, inclusion: "available" },
    ]);
  });

  it("lets * reach nested properties", () => {
    const result = applySelection(catalog(), { select: ["public-events.*"] });
    const events = listSelection(result.catalog).find((s) => s.streamId === "public-events");
    expect(events?.properties.filter((p) => !p.selected)).toEqual([]);
    expect(events?.properties.map((p) => p.name)).toContain("payload.ip");
  });
});

describe("applySelection: stream ids with dots", () => {
  function dotted(ids: string[]): Catalog {
    return {
      streams: ids.map((id) => stream(id, { id: { type: ["integer"] }, kind: {} }, { id: "automatic" })),
    };
  }

  it("finds a dotted stream id written with its dots", () => {
    const c = dotted(["public.events", "sales-orders"]);
    expect(selection(applySelection(c, { select: ["public.events.kind"] }).catalog)).toEqual({
      "public.events": ["id", "kind"],
    });
    expect(selection(applySelection(c, { select: ["public.events"] }).catalog)).toEqual({
      "public.events": ["id", "kind"],
    });
    const withMetadata = applySelection(c, {
      metadata: { "public.events": { "replication-method": "FULL_TABLE" } },
    });
    expect(streamMetadata(streamOf(withMetadata.catalog, "public.events"))["replication-method"]).toBe(
      "FULL_TABLE",
    );
    expect(withMetadata.unmatchedMetadata).toEqual([]);
  });

  it("keeps Meltano's first-dot reading when it matches a stream; \\. escapes the dot", () => {
    const c = dotted(["public", "public.events"]);
    const meltano = applySelection(c, { select: ["public.events.*"] });
    expect(Object.keys(selection(meltano.catalog))).toEqual(["public"]);
    const escaped = applySelection(c, { select: ["public\\.events.*"] });
    expect(Object.keys(selection(escaped.catalog))).toEqual(["public.events"]);
  });

  it("matches ids with spaces, quotes and unicode", () => {
    const c = dotted(['public-my "odd" table', "public-événements"]);
    const result = applySelection(c, { select: ['public-my "odd" table.kind', "public-?v*.*"] });
    expect(selection(result.catalog)).toEqual({
      'public-my "odd" table': ["id", "kind"],
      "public-événements": ["id", "kind"],
    });
  });
});

describe("applySelection: metadata", () => {
  it("sets replication-method and replication-key on the streams a glob matches", () => {
    const result = applySelection(catalog(), {
      metadata: { "public-*": { "replication-method": "INCREMENTAL", "replication-key": "updated_at" } },
    });
    for (const id of ["public-accounts", "public-events"]) {
      const s = streamOf(result.catalog, id);
      expect(streamMetadata(s)).toMatchObject({
        "replication-method": "INCREMENTAL",
        "replication-key": "updated_at",
      });
      // Meltano also writes the legacy top-level fields.
      expect(s.replication_method).toBe("INCREMENTAL");
      expect(s.replication_key).toBe("updated_at");
    }
    const orders = streamOf(result.catalog, "sales-orders");
    expect(streamMetadata(orders)["replication-method"]).toBeUndefined();
    expect(orders.replication_method).toBeUndefined();
    expect(result.unmatchedMetadata).toEqual([]);
  });

  it("sets property metadata from nested objects and from the flat dotted spelling", () => {
    const result = applySelection(catalog(), {
      metadata: {
        "public-events": { updated_at: { "is-replication-key": true } },
        "sales-orders.created_at.sql-datatype": "date",
        "sales-orders.replication-method": "LOG_BASED",
      },
    });
    expect(
      propertyMetadata(streamOf(result.catalog, "public-events"), "updated_at")["is-replication-key"],
    ).toBe(true);
    const orders = streamOf(result.catalog, "sales-orders");
    expect(propertyMetadata(orders, "created_at")["sql-datatype"]).toBe("date");
    expect(streamMetadata(orders)["replication-method"]).toBe("LOG_BASED");
    expect(propertyMetadata(orders, "total")["sql-datatype"]).toBeUndefined();
  });

  it("lets metadata selected override select, applied after it", () => {
    const result = applySelection(catalog(), {
      select: ["public-accounts.name"],
      metadata: { "public-accounts": { email: { selected: true }, name: { selected: false } } },
    });
    expect(selection(result.catalog)).toEqual({ "public-accounts": ["id", "email"] });
  });

  it("copies values so the result does not share arrays with the rules", () => {
    const keys = ["id", "account_id"];
    const result = applySelection(catalog(), {
      metadata: { "public-events": { "table-key-properties": keys } },
    });
    keys.push("mutated");
    expect(streamMetadata(streamOf(result.catalog, "public-events"))["table-key-properties"]).toEqual([
      "id",
      "account_id",
    ]);
  });

  it("rejects a stream entry that is not an object of keys", () => {
    expect(() => applySelection(catalog(), { metadata: { "public-events": "INCREMENTAL" } })).toThrow(
      ConfigError,
    );
  });
});

describe("applySelection: schema", () => {
  it("replaces a property's whole JSON schema", () => {
    const result = applySelection(catalog(), {
      schema: { "public-events": { kind: { type: ["string", "null"], format: "uuid" } } },
    });
    expect(streamOf(result.catalog, "public-events").schema.properties?.kind).toEqual({
      type: ["string", "null"],
      format: "uuid",
    });
    expect(streamOf(result.catalog, "public-accounts").schema.properties?.kind).toBeUndefined();
  });

  it("applies to the streams and properties its globs match", () => {
    const dateOnly = { type: ["string", "null"], format: "date" };
    const result = applySelection(catalog(), { schema: { "*": { "created_*": dateOnly } } });
    expect(streamOf(result.catalog, "public-accounts").schema.properties?.created_at).toEqual(dateOnly);
    expect(streamOf(result.catalog, "sales-orders").schema.properties?.created_at).toEqual(dateOnly);
    expect(streamOf(result.catalog, "public-events").schema.properties?.updated_at?.format).toBe("date-time");
    expect(streamOf(result.catalog, "public-events").schema.properties?.["created_*"]).toBeUndefined();
  });

  it("adds a property discovery did not report, and selects it as automatic", () => {
    const result = applySelection(catalog(), {
      select: ["sales-orders.total"],
      schema: { "sales-orders": { note: { type: ["string", "null"] } } },
    });
    const orders = streamOf(result.catalog, "sales-orders");
    expect(Object.keys(orders.schema.properties ?? {})).toEqual([
      "id",
      "total",
      "legacy_blob",
      "created_at",
      "note",
    ]);
    expect(propertyMetadata(orders, "note").inclusion).toBe("automatic");
    expect(selectedProperties(orders)).toEqual(["id", "total", "note"]);
  });

  it("rejects a payload that is not a JSON schema object", () => {
    expect(() => applySelection(catalog(), { schema: { "public-events": { kind: "string" } } })).toThrow(
      /schema\.public-events\.kind/,
    );
  });
});

describe("applySelection: diagnostics", () => {
  it("reports select patterns, metadata and schema keys that match no stream", () => {
    const result = applySelection(catalog(), {
      select: ["public-acounts.*", "public-events.*", "!nope.*", "sales-*.total"],
      metadata: {
        "public-evnts": { "replication-method": "INCREMENTAL" },
        "public-events": { kind: { a: 1 } },
      },
      schema: { nope: { id: { type: "string" } } },
    });
    expect(result.unmatchedSelect).toEqual(["public-acounts.*", "!nope.*"]);
    expect(result.unmatchedMetadata).toEqual(["public-evnts"]);
    expect(
      applySelection(catalog(), { metadata: { "public-events": {}, nope: {} } }).unmatchedMetadata,
    ).toEqual(["nope"]);
    expect(result.unmatchedSchema).toEqual(["nope"]);
  });

  it("reports a named property the matched streams do not have", () => {
    const result = applySelection(catalog(), {
      select: ["public-*.kindd", "public-events.kind", "public-events.nope_*"],
      metadata: { "public-events": { updatd_at: { "is-replication-key": true } } },
    });
    expect(result.unmatchedProperties).toEqual([
      { rule: "public-*.kindd", streamId: "public-accounts", property: "kindd" },
      { rule: "public-*.kindd", streamId: "public-events", property: "kindd" },
      {
        rule: "public-events.updatd_at.is-replication-key",
        streamId: "public-events",
        property: "updatd_at",
      },
    ]);
  });

  it("does not report the default select on an empty catalog", () => {
    expect(applySelection({ streams: [] }, {}).unmatchedSelect).toEqual([]);
    expect(applySelection({ streams: [] }, { select: ["*.*"] }).unmatchedSelect).toEqual(["*.*"]);
  });
});

describe("applySelection: purity", () => {
  it("leaves the input catalog and rules unchanged and shares no objects with them", () => {
    const input = catalog();
    const before = structuredClone(input);
    const rules = {
      select: ["public-*.*", "!public-events.kind"],
      metadata: { "public-events": { "replication-key": "updated_at" } },
      schema: { "public-events": { kind: { type: "string" }, extra: { type: "string" } } },
    };
    const rulesBefore = structuredClone(rules);
    const result = applySelection(input, rules);
    expect(input).toEqual(before);
    expect(rules).toEqual(rulesBefore);
    expect(result.catalog).not.toBe(input);
    expect(result.catalog.streams[0]).not.toBe(input.streams[0]);
    expect(result.catalog.streams[0]?.metadata[0]).not.toBe(input.streams[0]?.metadata[0]);
  });

  it("gives the same result when applied again to its own output", () => {
    const rules = {
      select: ["public-accounts.name"],
      metadata: { "*": { "replication-method": "FULL_TABLE" } },
    };
    const once = applySelection(catalog(), rules).catalog;
    expect(applySelection(once, rules).catalog).toEqual(once);
  });
});

describe("applySelection: catalogs without metadata", () => {
  it("fills missing entries in as Meltano does: top-level columns automatic", () => {
    const legacy: Catalog = {
      streams: [
        {
          tap_stream_id: "public-legacy",
          stream: "legacy",
          schema: { type: "object", properties: { id: { type: "integer" }, blob: { type: "string" } } },
          metadata: [],
        },
      ],
    };
    const result = applySelection(legacy, { select: ["!*.*"] });
    const s = streamOf(result.catalog, "public-legacy");
    expect(s.metadata[0]).toEqual({ breadcrumb: [], metadata: { selected: false } });
    expect(propertyMetadata(s, "blob").inclusion).toBe("automatic");
    expect(selectedStreams(result.catalog)).toEqual([]);
  });
});

describe("reading selection", () => {
  it("honours selected-by-default in a catalog that rules were not applied to", () => {
    const raw = catalog();
    expect(selectedStreams(raw)).toEqual([]);
    expect(selectedProperties(streamOf(raw, "sales-orders"))).toEqual(["id", "total", "created_at"]);
  });

  it("lists every stream and property with its selection and inclusion", () => {
    const result = applySelection(catalog(), { select: ["sales-orders.total"] });
    const listed = listSelection(result.catalog);
    expect(listed.map((s) => [s.streamId, s.selected])).toEqual([
      ["public-accounts", false],
      ["public-events", false],
      ["sales-orders", true],
    ]);
    expect(listed[2]?.properties).toEqual([
      { name: "id", selected: true, inclusion: "automatic" },
      { name: "total", selected: true, inclusion: "available" },
      { name: "legacy_blob", selected: false, inclusion: "unsupported" },
      { name: "created_at", selected: false, inclusion: "available" },
    ]);
  });
});

describe("narrowToStreams", () => {
  it("deselects the streams no pattern matches and leaves the others as they were", () => {
    const applied = applySelection(catalog(), { select: ["public-accounts.*", "sales-orders.*"] }).catalog;
    const result = narrowToStreams(applied, ["public-*"]);
    expect(selection(result.catalog)).toEqual({ "public-accounts": ["id", "name", "email", "created_at"] });
    // public-events was deselected by `select`; narrowing never selects.
    expect(streamMetadata(streamOf(result.catalog, "public-events")).selected).toBe(false);
    expect(streamMetadata(streamOf(result.catalog, "sales-orders")).selected).toBe(false);
    expect(result.unmatched).toEqual([]);
  });

  it("takes exclusions and ignores a property part", () => {
    const applied = applySelection(catalog(), {}).catalog;
    expect(Object.keys(selection(narrowToStreams(applied, ["!public-events"]).catalog))).toEqual([
      "public-accounts",
      "sales-orders",
    ]);
    expect(Object.keys(selection(narrowToStreams(applied, ["public-events.*"]).catalog))).toEqual([
      "public-events",
    ]);
  });

  it("returns the patterns that matched nothing", () => {
    const applied = applySelection(catalog(), {}).catalog;
    const result = narrowToStreams(applied, ["sales-orders", "nope", "!gone-*"]);
    expect(result.unmatched).toEqual(["nope", "!gone-*"]);
    expect(Object.keys(selection(result.catalog))).toEqual(["sales-orders"]);
  });

  it("changes nothing without patterns and never mutates its input", () => {
    const applied = applySelection(catalog(), {}).catalog;
    const before = structuredClone(applied);
    expect(narrowToStreams(applied, []).catalog).toEqual(applied);
    narrowToStreams(applied, ["public-events"]);
    expect(applied).toEqual(before);
  });
});
