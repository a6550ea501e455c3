import { parse as parseCsv } from "csv-parse/sync";
import type pg from "pg";
import { to as copyTo } from "pg-copy-streams";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  decodePgOutput,
  UNCHANGED_TOAST,
} from "../../../src/connectors/tap-postgres/cdc/pgoutput-decoder.js";
import { wireConverterOf } from "../../../src/connectors/tap-postgres/cdc/pgoutput-values.js";
import {
  EXTRACT_SESSION_SETTINGS,
  quoteIdent,
} from "../../../src/connectors/tap-postgres/postgres-connection.js";
import { discoverTables } from "../../../src/connectors/tap-postgres/postgres-discovery.js";
import { wireExpression, type PgTypeInfo } from "../../../src/connectors/tap-postgres/postgres-types.js";
import { createTestDatabase, type TestDatabase } from "../../support/pg.js";
import { openSlotSession, type SlotSession } from "./pgoutput-support.js";
import {
  typeFidelityCases,
  typeFidelityInserts,
  typeFidelityRowCount,
  typeFidelitySchemaSql,
} from "../../support/type-fidelity-cases.js";

/**
 * A change read from the WAL must reach the warehouse in exactly the text the FULL_TABLE path
 * sends for the same row: every type of the fidelity set, with its edge values, decoded from a
 * real slot's pgoutput and converted, equals the FULL_TABLE COPY of the same rows.
 */
const cases = typeFidelityCases({
  moreValues: {
    c_numeric_free: ["'Infinity'", "'-Infinity'"],
    c_real: ["1e-45", "3.4028235e38"],
    c_double: ["'-0'", "5e-324"],
    c_money: ["'0'", "'-92233720368547758.08'", "'92233720368547758.07'"],
    c_varchar: ["''"],
    c_char: ["''"],
    c_int_array: ["'[0:1]={1,2}'"],
    c_int_matrix: ["'[0:1][2:3]={{1,2},{3,4}}'"],
    c_date: ["'-infinity'"],
    c_time: ["'24:00:00'"],
    c_interval: [
      "'0'",
      "'-00:00:00.000001'",
      "'178000000 years'",
      "'-178000000 years -2 mons'",
      "'2562047788:00:54.775807'",
      "'1 day -1 sec'",
      "'-1 year -2 mons +3 days -04:05:06.123456'",
      "'1 mon 1 day 00:00:01'",
    ],
    c_bytea: ["'\\x5c22'"],
    c_inet: ["'1.2.3.4'"],
    c_hstore: ["''", 'E\'"q\\\\"x"=>"\\\\\\\\", "ü"=>"日本", "t"=>"a\\tb"\''],
    c_varbit: ["B''"],
  },
  values: {
    c_text: [
      "''",
      "E'line\\nbreak, \"quoted\" and ,commas\\r\\n'",
      "'ü日本語🎉'",
      "E'back\\\\slash \\\\N'",
      "'NULL'",
      "E'tab\\there'",
    ],
    c_json: ['\'{"b": 1,   "a": [1, 2.50]}\'', "'\"x\\\\y\"'"],
    c_text_array: [
      "ARRAY['a', NULL, 'NULL', 'null', 'with,comma', 'quote\"d', '', E'back\\\\slash', ' spaced ', 'ü{}', E'new\\nline']",
      "'{}'",
      "'{{a,b},{c,NULL}}'",
    ],
    c_tstz_array: ["ARRAY['2024-01-01 00:00:00+00'::timestamptz, 'infinity', '0044-03-15 12:00:00.5+00 BC']"],
    c_bytea_array: [
      "ARRAY['\\x00ff'::bytea, NULL, '']",
      '\'{{"\\\\x01","\\\\x02"},{NULL,"\\\\x"}}\'',
      "'{}'",
    ],
  },
  moreColumns: {
    c_bytea_array: [
      { column: "c_money_array", pgType: "money[]", values: ["'{1.50,-2}'", "'{{1,2},{3,NULL}}'"] },
      {
        column: "c_interval_array",
        pgType: "interval[]",
        values: ["ARRAY['1 year 2 mons'::interval, NULL, '-1 days +02:00:00']"],
      },
      {
        column: "c_hstore_array",
        pgType: "hstore[]",
        values: ["ARRAY['a=>1'::hstore, NULL, '', '\"x y\"=>NULL']"],
      },
      { column: "c_bool_array", pgType: "boolean[]", values: ["'{t,f,NULL}'"] },
      { column: "c_char_array", pgType: "char(3)[]", values: ["ARRAY['a'::char(3), 'abc', '']"] },
      {
        column: "c_inet_array",
        pgType: "inet[]",
        values: ["ARRAY['1.2.3.4'::inet, '::1', '10.0.0.0/8', '::1/64']"],
      },
      { column: "c_cidr_array", pgType: "cidr[]", values: ["ARRAY['10.0.0.0/8'::cidr, '1.2.3.4']"] },
      { column: "c_jsonb_array", pgType: "jsonb[]", values: ["ARRAY['{\"a\": \"b,c\"}'::jsonb, 'null']"] },
      { column: "c_date_array", pgType: "date[]", values: ["ARRAY['0044-03-15 BC'::date, 'infinity']"] },
      { column: "c_box_array", pgType: "box[]", values: ["ARRAY['((1,1),(0,0))'::box, '((3,3),(2,2))']"] },
      { column: "c_enum_array", pgType: "mood[]", values: ["ARRAY['happy'::mood, NULL]"] },
      { column: "c_point_array", pgType: "point[]", values: ["ARRAY['(1,2)'::point]"] },
      { column: "c_pair_array", pgType: "pair[]", values: ["ARRAY[ROW(1, 'x \"y\"')::pair, NULL]"] },
    ],
    c_point: [
      { column: "c_pair", pgType: "pair", values: ["ROW(1, 'x \"y\", z')::pair", "ROW(NULL, NULL)::pair"] },
      { column: "c_xml", pgType: "xml", values: ["'<a b=\"1\">text &amp; more</a>'"] },
      { column: "c_tsvector", pgType: "tsvector", values: ["'a fat cat'"] },
    ],
    c_domain: [{ column: "c_domain_array", pgType: "int_list", values: ["'{1,2}'"] }],
  },
});

const rowCount = typeFidelityRowCount(cases); // the last row is all NULL

let db: TestDatabase;
let session: SlotSession;
let pgTypes: Map<string, PgTypeInfo>;
/** Per row id: the column values FULL_TABLE's COPY produced (null for NULL). */
let copied: Map<number, Map<string, string | null>>;
/** Per row id: the decoded insert's values after conversion. */
let streamed: Map<number, Map<string, string | null>>;

async function copyRows(client: pg.Client, sql: string): Promise<(string | null)[][]> {
  const chunks: Buffer[] = [];
  const stream = client.query(copyTo(`COPY (${sql}) TO STDOUT WITH (FORMAT csv)`));
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return parseCsv(Buffer.concat(chunks), {
    // An unquoted empty field is NULL; a quoted one the empty string.
    cast: (value, context) => (context.quoting || value !== "" ? value : null),
  }) as (string | null)[][];
}

beforeAll(async () => {
  db = await createTestDatabase("pgoutput_values");
  await db.query(typeFidelitySchemaSql(cases));
  session = await openSlotSession(db, "all_types");
  const client = session.client;
  for (const insert of typeFidelityInserts(cases)) await client.query(insert);

  const [table] = await discoverTables(client, ["public"]);
  pgTypes = new Map(table!.columns.map((c) => [c.name, c.pg]));
  const columns = ["id", ...cases.map((c) => c.column)];
  const select = columns.map((name) => wireExpression(quoteIdent(name), pgTypes.get(name)!)).join(", ");
  const rows = await copyRows(client, `SELECT ${select} FROM all_types`);
  copied = new Map(rows.map((r) => [Number(r[0]), new Map(columns.map((name, i) => [name, r[i] ?? null]))]));

  // The same rows through the slot, read under the same session settings.
  await client.query(EXTRACT_SESSION_SETTINGS);
  const changes = await session.take({ protoVersion: 1 });
  let relationColumns: string[] = [];
  streamed = new Map();
  for (const change of changes) {
    const message = decodePgOutput(change.data);
    if (message.type === "relation") relationColumns = message.columns.map((c) => c.name);
    if (message.type !== "insert") continue;
    const values = new Map<string, string | null>();
    message.newTuple.forEach((field, i) => {
      const name = relationColumns[i]!;
      if (field === UNCHANGED_TOAST || Buffer.isBuffer(field)) throw new Error(`unexpected field in ${name}`);
      const convert = wireConverterOf(pgTypes.get(name)!);
      values.set(name, field === null ? null : convert === undefined ? field : convert(field));
    });
    streamed.set(Number(values.get("id")), values);
  }
});

afterAll(async () => {
  await session?.close();
  await db?.drop();
});

describe("a change decoded from pgoutput has the FULL_TABLE wire form", () => {
  test("every inserted row arrived through the slot", () => {
    expect([...streamed.keys()].sort((a, b) => a - b)).toEqual([...copied.keys()].sort((a, b) => a - b));
    expect(streamed.size).toBe(rowCount);
  });

  test.each(cases)("$pgType ($column)", (c) => {
    const expected = Array.from({ length: rowCount }, (_, id) => copied.get(id)?.get(c.column));
    const actual = Array.from({ length: rowCount }, (_, id) => streamed.get(id)?.get(c.column));
    expect(actual).toEqual(expected);
    // The NULL row stays NULL, distinct from the empty string.
    expect(actual[rowCount - 1]).toBeNull();
  });
});
