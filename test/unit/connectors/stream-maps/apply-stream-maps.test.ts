import { createHash } from "node:crypto";
import { describe, expect, test } from "vitest";
import { applyStreamMaps } from "../../../../src/connectors/stream-maps/apply-stream-maps.js";
import {
  compileMapping,
  type CompiledMapping,
} from "../../../../src/connectors/stream-maps/stream-maps-config.js";
import { readSingerMessages } from "../../../../src/protocol/singer-reader.js";

const md5 = (text: string): string => createHash("md5").update(text, "utf8").digest("hex");

function compiled(config: Record<string, unknown>): CompiledMapping {
  const result = compileMapping("hash-pii", config);
  if (!result.mapping) throw new Error(result.problems.join("\n"));
  return result.mapping;
}

/** The mapping applied to Singer lines; the output as parsed JSON lines. */
async function mapLines(mapping: CompiledMapping, lines: object[]): Promise<Record<string, unknown>[]> {
  const input = readSingerMessages([lines.map((l) => JSON.stringify(l)).join("\n") + "\n"], {
    pluginName: "test",
  });
  const out: Record<string, unknown>[] = [];
  for await (const read of applyStreamMaps(mapping, input)) {
    // The text and the typed message must say the same.
    const parsed = JSON.parse(read.text) as Record<string, unknown>;
    expect(parsed.type).toBe(read.message.type);
    out.push(parsed);
  }
  return out;
}

const customersSchema = {
  type: "SCHEMA",
  stream: "public-customers",
  schema: {
    type: "object",
    properties: {
      id: { type: ["integer"] },
      email: { type: ["null", "string"] },
      ssn: { type: ["null", "string"] },
      country: { type: ["null", "string"] },
      amount: { type: ["null", "number"] },
    },
  },
  key_properties: ["id"],
};

const HASH_PII = {
  stream_maps: {
    "public-customers": {
      email: "md5(email)",
      ssn: "__NULL__",
      __filter__: "country != 'XX'",
      email_domain: "email",
      big: "amount * 2",
    },
    "public-audit": "__NULL__",
    "public-orders_copy": { __source__: "public-orders", __key_properties__: ["id"] },
  },
};

describe("applyStreamMaps", () => {
  test("hash, drop, filter, copy and drop a stream; SCHEMA follows; other streams pass as they are", async () => {
    const out = await mapLines(compiled(HASH_PII), [
      customersSchema,
      {
        type: "RECORD",
        stream: "public-customers",
        record: { id: 1, email: "a@x.io", ssn: "1", country: "FR", amount: 1.25 },
      },
      {
        type: "RECORD",
        stream: "public-customers",
        record: { id: 2, email: "b@x.io", ssn: "2", country: "XX", amount: 1 },
      },
      {
        type: "SCHEMA",
        stream: "public-audit",
        schema: { properties: { id: { type: "integer" } } },
        key_properties: [],
      },
      { type: "RECORD", stream: "public-audit", record: { id: 1 } },
      {
        type: "SCHEMA",
        stream: "public-orders",
        schema: { properties: { id: { type: "integer" } } },
        key_properties: ["id"],
      },
      { type: "RECORD", stream: "public-orders", record: { id: 9 } },
      { type: "STATE", value: { bookmarks: {} } },
    ]);
    expect(out).toEqual([
      {
        type: "SCHEMA",
        stream: "public-customers",
        schema: {
          type: "object",
          properties: {
            id: { type: ["integer"] },
            email: { type: ["string", "null"] },
            country: { type: ["null", "string"] },
            amount: { type: ["null", "number"] },
            email_domain: { type: ["null", "string"] },
            big: { type: ["number", "null"] },
          },
        },
        key_properties: ["id"],
      },
      {
        type: "RECORD",
        stream: "public-customers",
        record: {
          id: 1,
          email: md5("a@x.io"),
          country: "FR",
          amount: 1.25,
          email_domain: "a@x.io",
          big: 2.5,
        },
      },
      {
        type: "SCHEMA",
        stream: "public-orders",
        schema: { properties: { id: { type: "integer" } } },
        key_properties: ["id"],
      },
      {
        type: "SCHEMA",
        stream: "public-orders_copy",
        schema: { properties: { id: { type: "integer" } } },
        key_properties: ["id"],
      },
      { type: "RECORD", stream: "public-orders", record: { id: 9 } },
      { type: "RECORD", stream: "public-orders_copy", record: { id: 9 } },
      { type: "STATE", value: { bookmarks: {} } },
    ]);
  });

  test("in a change stream, a row the filter rejects becomes a delete of its key; deletes pass", async () => {
    const changes = structuredClone(customersSchema);
    (changes.schema.properties as Record<string, unknown>)._sdc_deleted_at = {
      type: ["null", "string"],
      format: "date-time",
    };
    const out = await mapLines(compiled(HASH_PII), [
      changes,
      {
        type: "RECORD",
        stream: "public-customers",
        record: { id: 2, email: "b@x.io", country: "XX", amount: 1, _sdc_deleted_at: null },
        time_extracted: "2026-01-02T03:04:05Z",
      },
      {
        type: "RECORD",
        stream: "public-customers",
        record: { id: 3, _sdc_deleted_at: "2026-01-01T00:00:00Z" },
      },
    ]);
    expect(out.slice(1).map((m) => m.record)).toEqual([
      {
        id: 2,
        email: md5("b@x.io"),
        country: "XX",
        amount: 1,
        _sdc_deleted_at: "2026-01-02T03:04:05Z",
        email_domain: "b@x.io",
        big: 2,
      },
      // A delete carries only its key: what it did not carry stays out, whatever the filter says.
      { id: 3, _sdc_deleted_at: "2026-01-01T00:00:00Z" },
    ]);
  });

  test("aliases rename a stream, __else__ drops what is not named, __key_properties__ sets the key", async () => {
    const mapping = compiled({
      stream_maps: {
        "public-customers": {
          __alias__: "public-people",
          __else__: "__NULL__",
          pk: "md5(str(id))",
          country: "country",
          __key_properties__: ["pk"],
        },
        __else__: null,
      },
    });
    const out = await mapLines(mapping, [
      customersSchema,
      {
        type: "RECORD",
        stream: "public-customers",
        record: { id: 7, email: "e", ssn: "s", country: "FR", amount: 1 },
        version: 3,
      },
      { type: "ACTIVATE_VERSION", stream: "public-customers", version: 3 },
      { type: "SCHEMA", stream: "public-other", schema: { properties: {} }, key_properties: [] },
      { type: "RECORD", stream: "public-other", record: {} },
    ]);
    expect(out).toEqual([
      {
        type: "SCHEMA",
        stream: "public-people",
        schema: {
          type: "object",
          properties: { country: { type: ["null", "string"] }, pk: { type: ["string", "null"] } },
        },
        key_properties: ["pk"],
      },
      { type: "RECORD", stream: "public-people", record: { country: "FR", pk: md5("7") }, version: 3 },
      { type: "ACTIVATE_VERSION", stream: "public-people", version: 3 },
    ]);
  });

  test("a property the stream lacks, a removed key, or a value the expression cannot use stops the run with where", async () => {
    await expect(
      mapLines(compiled({ stream_maps: { "public-customers": { h: "md5(emial)" } } }), [customersSchema]),
    ).rejects.toThrow(
      'mapping "hash-pii", stream "public-customers": h: `md5(emial)` reads "emial", which stream "public-customers" does not have (did you mean `email`?)',
    );
    await expect(
      mapLines(compiled({ stream_maps: { "public-customers": { id: "__NULL__" } } }), [customersSchema]),
    ).rejects.toThrow(
      "key properties id are removed by the mapping; keep them, or name the new key with `__key_properties__`",
    );
    await expect(
      mapLines(compiled({ stream_maps: { "public-customers": { __filter__: "amount > 10" } } }), [
        customersSchema,
        { type: "RECORD", stream: "public-customers", record: { id: 1, amount: null } },
      ]),
    ).rejects.toThrow(
      'mapping "hash-pii", stream "public-customers": line 2: __filter__: `amount > 10`: \'>\' not supported between NoneType and int',
    );
  });
});

describe("compileMapping refuses what sluice does not run built in", () => {
  test("each problem names the mapping, the stream, the property and the expression, and says what to do", () => {
    const result = compileMapping("hash-pii", {
      stream_maps: {
        "public-customers": { email: "email.lower()", __filtre__: "x", ok: "md5(email)" },
        "public-*": { a: "b" },
        __else__: { x: "y" },
      },
      flattening_enabled: true,
      stream_map_confg: {},
    });
    expect(result.problems).toEqual([
      'mapping "hash-pii": config.stream_map_confg: not a setting of meltano-map-transformer that sluice runs built in (did you mean `stream_map_config`?); to run it as Meltano does, set `builtin: false` on the mapper (its pip_url is installed by `sluice install` and run as a Singer process)',
      'mapping "hash-pii": config.flattening_enabled: flattening is not in sluice\'s built-in subset; to run it as Meltano does, set `builtin: false` on the mapper (its pip_url is installed by `sluice install` and run as a Singer process)',
      'mapping "hash-pii": stream_maps.public-customers.email: `email.lower()`: methods and attributes (`x.lower()`, `x.attr`) are not in sluice\'s built-in subset (at character 6); sluice runs md5(), str(), int(), float(), bool(), comparisons, and/or/not, is None and arithmetic built in; to run it as Meltano does, set `builtin: false` on the mapper (its pip_url is installed by `sluice install` and run as a Singer process)',
      'mapping "hash-pii": stream_maps.public-customers.__filtre__: not an option sluice knows (__alias__, __source__, __filter__, __else__, __key_properties__) (did you mean `__filter__`?)',
      'mapping "hash-pii": stream_maps.public-*: stream name patterns are not in sluice\'s built-in subset; name each stream, or to run it as Meltano does, set `builtin: false` on the mapper (its pip_url is installed by `sluice install` and run as a Singer process)',
      'mapping "hash-pii": stream_maps.__else__: only `__else__: __NULL__` (drop the other streams) is in sluice\'s built-in subset; to run it as Meltano does, set `builtin: false` on the mapper (its pip_url is installed by `sluice install` and run as a Singer process)',
    ]);
    expect(compileMapping("m", {}).problems).toEqual([
      'mapping "m": config.stream_maps: missing or not a mapping: list the streams to map under `stream_maps`',
    ]);
  });
});
