import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { runSingerTap } from "../../../src/connectors/singer/singer-tap.js";
import { PostgresExtractor } from "../../../src/connectors/tap-postgres/postgres-extractor.js";
import type { Catalog, JsonSchema } from "../../../src/protocol/catalog.js";
import { SingerWriter, type LineSink } from "../../../src/protocol/singer-writer.js";
import { createTestDatabase, type TestDatabase } from "../../support/pg.js";
import { selectStreams, tapConfig, tempDir } from "../../support/pipeline.js";

/**
 * The schema `sluice tap` sends for each column: its own (types, formats, `x-sql-datatype`), also
 * where the catalog holds an earlier discovery's form of it, and the catalog's where a `schema`
 * extra changed it.
 */
let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase("tap_schema");
  await db.query(`
    CREATE TABLE t (id bigint PRIMARY KEY, b bytea, u uuid, tz timetz, note text, n numeric(12,2)[]);
    INSERT INTO t VALUES (1, '\\x00ff', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '12:34:56.789+02', '2024-01-01 00:00:00', '{1.50}');
  `);
});

afterAll(async () => {
  await db?.drop();
});

/** The properties of the SCHEMA `sluice tap` sends for `public-t`, given the catalog `edit` makes. */
async function schemaSent(
  edit: (properties: Record<string, JsonSchema>) => void,
): Promise<Record<string, JsonSchema>> {
  const extractor = new PostgresExtractor(tapConfig(db));
  const catalog = JSON.parse(JSON.stringify(selectStreams(await extractor.discover(), "all"))) as Catalog;
  edit(catalog.streams.find((s) => s.tap_stream_id === "public-t")!.schema.properties!);
  let text = "";
  const sink: LineSink = {
    write: (chunk, callback) => {
      text += chunk;
      // As a stream calls it: after write() has returned.
      setImmediate(() => callback());
      return true;
    },
    once: () => undefined,
    on: () => undefined,
  };
  await runSingerTap({
    extractor,
    catalog,
    state: undefined,
    writer: new SingerWriter(sink),
    spoolDir: path.join(tempDir(), "spool"),
  });
  const schema = text
    .split("\n")
    .map(
      (line) =>
        JSON.parse(line || "null") as {
          type: string;
          schema: { properties: Record<string, JsonSchema> };
        } | null,
    )
    .find((m) => m?.type === "SCHEMA");
  return schema!.schema.properties;
}

describe("the SCHEMA sluice tap sends", () => {
  test("each column's own: types, formats and x-sql-datatype", async () => {
    const properties = await schemaSent(() => undefined);
    expect(properties.id).toEqual({
      type: "integer",
      minimum: -(2 ** 63),
      maximum: 2 ** 63,
      "x-sql-datatype": "bigint",
    });
    expect(properties.b).toEqual({
      type: ["null", "string"],
      contentEncoding: "base16",
      "x-sql-datatype": "bytea",
    });
    expect(properties.u).toEqual({ type: ["null", "string"], format: "uuid", "x-sql-datatype": "uuid" });
    expect(properties.tz).toEqual({
      type: ["null", "string"],
      format: "time",
      "x-sql-datatype": "time with time zone",
    });
    expect(properties.n).toMatchObject({ type: ["null", "array"], "x-sql-datatype": "numeric(12,2)[]" });
  });

  test("a catalog of an earlier discovery (without the annotations) gets them", async () => {
    const properties = await schemaSent((declared) => {
      declared.id = { type: "integer" };
      declared.b = { type: ["null", "string"] };
      declared.u = { type: ["null", "string"] };
      declared.n = {
        type: ["null", "array"],
        items: {
          type: ["null", "number"],
          multipleOf: 0.01,
          maximum: 1e10,
          exclusiveMaximum: true,
          minimum: -1e10,
          exclusiveMinimum: true,
        },
      };
    });
    expect(properties.id?.["x-sql-datatype"]).toBe("bigint");
    expect(properties.b?.contentEncoding).toBe("base16");
    expect(properties.u?.format).toBe("uuid");
    expect(properties.n?.["x-sql-datatype"]).toBe("numeric(12,2)[]");
  });

  test("a schema a `schema` extra changed is sent as the catalog has it", async () => {
    const properties = await schemaSent((declared) => {
      declared.note = { type: ["null", "string"], format: "date-time" };
      declared.b = { type: ["null", "string"], "x-sql-datatype": "text" };
    });
    expect(properties.note).toEqual({ type: ["null", "string"], format: "date-time" });
    expect(properties.b).toEqual({ type: ["null", "string"], "x-sql-datatype": "text" });
  });
});
