/**
 * The type-fidelity set: every PostgreSQL type the product promises, as a source column type and
 * SQL literals for its rows (edge values included). Each loader's fidelity test builds one table
 * `all_types` of these columns (row `i` holds each column's `values[i]`, the last row is all
 * NULL) and states what its warehouse must hold for each column. Kept here because a test file
 * cannot be imported (it registers its tests), and one list keeps the loaders' tests in step.
 */

export interface TypeFidelityCase {
  column: string;
  pgType: string;
  /** SQL literals, one per row from row 0; a row past the end holds NULL. */
  values: readonly string[];
}

/** Each loader's fidelity test: the same columns and values. */
export const TYPE_FIDELITY_CASES: readonly TypeFidelityCase[] = [
  { column: "c_smallint", pgType: "smallint", values: ["-32768", "32767"] },
  { column: "c_integer", pgType: "integer", values: ["-2147483648", "0"] },
  { column: "c_bigint", pgType: "bigint", values: ["-9223372036854775808", "9223372036854775807"] },
  {
    column: "c_numeric_38",
    pgType: "numeric(38,0)",
    values: ["99999999999999999999999999999999999999", "-12345678901234567890123456789012345678"],
  },
  { column: "c_numeric_12_2", pgType: "numeric(12,2)", values: ["1234567890.12", "0.10", "-0.01"] },
  {
    column: "c_numeric_free",
    pgType: "numeric",
    values: ["'NaN'", "3.141592653589793238462643383279502884197169399375", "1e-40"],
  },
  { column: "c_real", pgType: "real", values: ["1.5", "'NaN'", "'-Infinity'"] },
  { column: "c_double", pgType: "double precision", values: ["0.1", "'Infinity'", "1e308"] },
  { column: "c_money", pgType: "money", values: ["'1234.56'", "'-0.99'"] },
  { column: "c_bool", pgType: "boolean", values: ["true", "false"] },
  {
    column: "c_text",
    pgType: "text",
    values: ["''", "E'line\\nbreak, \"quoted\" and ,commas'", "'ü日本語🎉'"],
  },
  { column: "c_varchar", pgType: "varchar(10)", values: ["'abc'"] },
  { column: "c_char", pgType: "char(4)", values: ["'ab'"] },
  { column: "c_citext", pgType: "citext", values: ["'MiXeD'"] },
  { column: "c_uuid", pgType: "uuid", values: ["'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'"] },
  { column: "c_enum", pgType: "mood", values: ["'happy'", "'sad'"] },
  { column: "c_json", pgType: "json", values: ['\'{"b": 1, "a": [1, 2.50]}\''] },
  {
    column: "c_jsonb",
    pgType: "jsonb",
    values: [
      '\'{"nested": {"ü": "日本", "deep": [{"x": null}, 1e2, "\\u00e9"]}}\'',
      "'[]'",
      "'\"plain string\"'",
    ],
  },
  { column: "c_int_array", pgType: "integer[]", values: ["'{1,NULL,3}'", "'{}'"] },
  {
    column: "c_text_array",
    pgType: "text[]",
    values: ["ARRAY['a', NULL, 'NULL', 'with,comma', 'quote\"d', '']"],
  },
  { column: "c_numeric_array", pgType: "numeric(10,2)[]", values: ["'{1.50,-2.25}'"] },
  { column: "c_int_matrix", pgType: "integer[][]", values: ["'{{1,2},{3,NULL}}'"] },
  {
    column: "c_tstz_array",
    pgType: "timestamptz[]",
    values: ["ARRAY['2024-01-01 00:00:00+00'::timestamptz, 'infinity']"],
  },
  { column: "c_bytea_array", pgType: "bytea[]", values: ["ARRAY['\\x00ff'::bytea]"] },
  { column: "c_date", pgType: "date", values: ["'2024-02-29'", "'infinity'", "'0044-03-15 BC'"] },
  { column: "c_time", pgType: "time", values: ["'23:59:59.999999'"] },
  {
    column: "c_timetz",
    pgType: "time with time zone",
    values: ["'12:34:56.789+05:30'", "'00:00:00.000001-08'"],
  },
  {
    column: "c_timestamp",
    pgType: "timestamp",
    values: ["'2024-01-31 12:00:00.123456'", "'-infinity'", "'0044-03-15 12:00:00 BC'"],
  },
  {
    column: "c_timestamptz",
    pgType: "timestamptz",
    values: ["'2024-01-31 12:00:00.5+02'", "'infinity'", "'-infinity'", "'0044-03-15 12:00:00+00 BC'"],
  },
  {
    column: "c_interval",
    pgType: "interval",
    values: ["'1 year 2 mons 3 days 04:05:06.5'", "'-1 days +02:00:00'", "'-3 mons'"],
  },
  { column: "c_bytea", pgType: "bytea", values: ["'\\x00ff10'", "''"] },
  { column: "c_inet", pgType: "inet", values: ["'192.168.0.1/24'", "'::1'"] },
  { column: "c_cidr", pgType: "cidr", values: ["'10.0.0.0/8'"] },
  { column: "c_macaddr", pgType: "macaddr", values: ["'08:00:2b:01:02:03'"] },
  { column: "c_hstore", pgType: "hstore", values: ["'a=>1, \"b c\"=>NULL'"] },
  { column: "c_bit", pgType: "bit(4)", values: ["B'1010'"] },
  { column: "c_varbit", pgType: "varbit", values: ["B'101'"] },
  { column: "c_int4range", pgType: "int4range", values: ["'[1,10)'", "'empty'"] },
  { column: "c_tstzrange", pgType: "tstzrange", values: ["'[2024-01-01,infinity)'"] },
  { column: "c_point", pgType: "point", values: ["'(1.5,-2)'"] },
  { column: "c_domain", pgType: "positive_amount", values: ["12.34"] },
];

/** How a test departs from the common set: more edge values, other values, more columns. */
export interface TypeFidelityVariation {
  /** Column → values appended to the common ones. */
  moreValues?: Readonly<Record<string, readonly string[]>>;
  /** Column → values used instead of the common ones. */
  values?: Readonly<Record<string, readonly string[]>>;
  /** Column of the common set → columns placed right after it. */
  moreColumns?: Readonly<Record<string, readonly TypeFidelityCase[]>>;
}

/** The common set with a test's own variation; a variation naming an unknown column throws. */
export function typeFidelityCases(variation: TypeFidelityVariation = {}): TypeFidelityCase[] {
  const known = new Set(TYPE_FIDELITY_CASES.map((c) => c.column));
  for (const group of [variation.moreValues, variation.values, variation.moreColumns]) {
    for (const column of Object.keys(group ?? {})) {
      if (!known.has(column)) throw new Error(`type-fidelity variation names unknown column ${column}`);
    }
  }
  return TYPE_FIDELITY_CASES.flatMap((c) => [
    {
      ...c,
      values: [...(variation.values?.[c.column] ?? c.values), ...(variation.moreValues?.[c.column] ?? [])],
    },
    ...(variation.moreColumns?.[c.column] ?? []),
  ]);
}

/**
 * Joins each case with what the loader's test expects of its column. Every column must have its
 * expectation and every expectation its column, so that no case is dropped unnoticed.
 */
export function withExpectations<T extends object>(
  cases: readonly TypeFidelityCase[],
  expectations: Readonly<Record<string, T>>,
): (TypeFidelityCase & T)[] {
  for (const column of Object.keys(expectations)) {
    if (!cases.some((c) => c.column === column)) throw new Error(`expectation for unknown column ${column}`);
  }
  return cases.map((c) => {
    const expectation = expectations[c.column];
    if (!expectation) throw new Error(`no expectation for type-fidelity column ${c.column}`);
    return { ...c, ...expectation };
  });
}

/** Rows of the `all_types` table: the longest list of values, plus the all-NULL row. */
export function typeFidelityRowCount(cases: readonly TypeFidelityCase[]): number {
  return Math.max(...cases.map((c) => c.values.length)) + 1;
}

/** The types the set uses, and the table `all_types` of `cases` (`id` is the row number). */
export function typeFidelitySchemaSql(cases: readonly TypeFidelityCase[]): string {
  return `
    CREATE EXTENSION hstore; CREATE EXTENSION citext;
    CREATE TYPE mood AS ENUM ('happy', 'sad');
    CREATE TYPE pair AS (a integer, b text);
    CREATE DOMAIN positive_amount AS numeric(10,2) CHECK (VALUE > 0);
    CREATE DOMAIN int_list AS integer[];
    CREATE TABLE all_types (id integer PRIMARY KEY, ${cases.map((c) => `${c.column} ${c.pgType}`).join(", ")});
  `;
}

/** One INSERT per row of `all_types`, in row order. */
export function typeFidelityInserts(cases: readonly TypeFidelityCase[]): string[] {
  return Array.from({ length: typeFidelityRowCount(cases) }, (_, row) => {
    const values = cases.map((c) => c.values[row] ?? "NULL");
    return `INSERT INTO all_types VALUES (${row}, ${values.join(", ")})`;
  });
}
