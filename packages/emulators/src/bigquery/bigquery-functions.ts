/**
 * BigQuery's functions in DuckDB: renamed, rewritten (other argument order or form), or defined as
 * DuckDB macros. The translator applies the first two to a call's tokens; the emulator creates the
 * macros in its database when it starts.
 */

type Rewrite = (args: string[], words: string[]) => string | undefined;

/** A date part as DuckDB names it (BigQuery's WEEK(MONDAY) and ISOWEEK are weeks from Monday). */
function part(word: string | undefined): string | undefined {
  if (!word) return undefined;
  const p = word.replace(/\(.*$/, "").toLowerCase();
  return p === "isoweek" ? "week" : p === "isoyear" ? "isoyear" : p;
}

/**
 * GoogleSQL functions whose arguments DuckDB takes in another order or form, given the
 * arguments as DuckDB SQL (each parenthesized) and, for a bare word argument (a date part), the word.
 */
export const FUNCTION_REWRITES: Record<string, Rewrite> = {
  // NOTE: DuckDB's concat() skips NULLs; BigQuery's CONCAT is NULL when any argument is.
  CONCAT: (a) => (a.length > 0 ? `(${a.join(" || ")})` : undefined),
  TIMESTAMP_TRUNC: (a, w) =>
    a.length >= 2 && part(w[1])
      ? `CAST(date_trunc('${part(w[1])}', CAST(${a[0]} AS TIMESTAMP)) AS TIMESTAMPTZ)`
      : undefined,
  DATETIME_TRUNC: (a, w) =>
    a.length === 2 && part(w[1]) ? `date_trunc('${part(w[1])}', ${a[0]})` : undefined,
  DATE_TRUNC: (a, w) =>
    a.length === 2 && part(w[1]) ? `CAST(date_trunc('${part(w[1])}', ${a[0]}) AS DATE)` : undefined,
  TIME_TRUNC: (a, w) =>
    a.length === 2 && part(w[1])
      ? `CAST(date_trunc('${part(w[1])}', TIMESTAMP '1970-01-01' + ${a[0]}) AS TIME)`
      : undefined,
  // BigQuery counts part boundaries crossed for DATE, whole parts elapsed for TIMESTAMP/DATETIME.
  DATE_DIFF: (a, w) =>
    a.length === 3 && part(w[2]) ? `date_diff('${part(w[2])}', ${a[1]}, ${a[0]})` : undefined,
  DATETIME_DIFF: (a, w) =>
    a.length === 3 && part(w[2]) ? `date_sub('${part(w[2])}', ${a[1]}, ${a[0]})` : undefined,
  TIMESTAMP_DIFF: (a, w) =>
    a.length === 3 && part(w[2])
      ? `date_sub('${part(w[2])}', CAST(${a[1]} AS TIMESTAMP), CAST(${a[0]} AS TIMESTAMP))`
      : undefined,
  TIMESTAMP_ADD: (a) => (a.length === 2 ? `(${a[0]} + ${a[1]})` : undefined),
  TIMESTAMP_SUB: (a) => (a.length === 2 ? `(${a[0]} - ${a[1]})` : undefined),
  DATETIME_ADD: (a) => (a.length === 2 ? `CAST(${a[0]} + ${a[1]} AS TIMESTAMP)` : undefined),
  DATETIME_SUB: (a) => (a.length === 2 ? `CAST(${a[0]} - ${a[1]} AS TIMESTAMP)` : undefined),
  DATE_ADD: (a) => (a.length === 2 ? `CAST(${a[0]} + ${a[1]} AS DATE)` : undefined),
  DATE_SUB: (a) => (a.length === 2 ? `CAST(${a[0]} - ${a[1]} AS DATE)` : undefined),
  DATE: (a) =>
    a.length === 1 ? `CAST(${a[0]} AS DATE)` : a.length === 3 ? `make_date(${a.join(", ")})` : undefined,
  DATETIME: (a) => (a.length === 1 ? `CAST(${a[0]} AS TIMESTAMP)` : undefined),
  TIMESTAMP: (a) => (a.length === 1 ? `CAST(${a[0]} AS TIMESTAMPTZ)` : undefined),
  FORMAT_TIMESTAMP: (a) => (a.length === 2 ? `strftime(CAST(${a[1]} AS TIMESTAMP), ${a[0]})` : undefined),
  FORMAT_DATETIME: (a) => (a.length === 2 ? `strftime(${a[1]}, ${a[0]})` : undefined),
  FORMAT_DATE: (a) => (a.length === 2 ? `strftime(${a[1]}, ${a[0]})` : undefined),
  PARSE_TIMESTAMP: (a) => (a.length === 2 ? `CAST(strptime(${a[1]}, ${a[0]}) AS TIMESTAMPTZ)` : undefined),
  PARSE_DATETIME: (a) => (a.length === 2 ? `CAST(strptime(${a[1]}, ${a[0]}) AS TIMESTAMP)` : undefined),
  PARSE_DATE: (a) => (a.length === 2 ? `CAST(strptime(${a[1]}, ${a[0]}) AS DATE)` : undefined),
  GENERATE_ARRAY: (a) => (a.length === 2 || a.length === 3 ? `generate_series(${a.join(", ")})` : undefined),
  SPLIT: (a) =>
    a.length === 1
      ? `string_split(${a[0]}, ',')`
      : a.length === 2
        ? `string_split(${a[0]}, ${a[1]})`
        : undefined,
  JSON_VALUE: (a) => (a.length === 2 ? `json_extract_string(${a[0]}, ${a[1]})` : undefined),
  JSON_EXTRACT_SCALAR: (a) => (a.length === 2 ? `json_extract_string(${a[0]}, ${a[1]})` : undefined),
  JSON_QUERY: (a) => (a.length === 2 ? `json_extract(${a[0]}, ${a[1]})` : undefined),
  JSON_EXTRACT: (a) => (a.length === 2 ? `json_extract(${a[0]}, ${a[1]})` : undefined),
  // BigQuery's MD5 returns BYTES (DuckDB's a hex string); TO_HEX writes lower-case hex.
  MD5: (a) => (a.length === 1 ? `unhex(md5(${a[0]}))` : undefined),
  TO_HEX: (a) => (a.length === 1 ? `lower(hex(${a[0]}))` : undefined),
};

/** BigQuery functions whose DuckDB name differs (the rest are DuckDB's, or macros below). */
export const FUNCTION_RENAMES: Record<string, string> = {
  CURRENT_TIMESTAMP: "now",
  SAFE_DIVIDE: "bq_safe_divide",
  LOGICAL_OR: "bool_or",
  LOGICAL_AND: "bool_and",
  ARRAY_LENGTH: "len",
  BYTE_LENGTH: "octet_length",
  CHAR_LENGTH: "length",
  CHARACTER_LENGTH: "length",
  REGEXP_CONTAINS: "regexp_matches",
  STARTS_WITH: "starts_with",
};

/** DuckDB macros standing in for BigQuery functions DuckDB lacks. */
export const BIGQUERY_FUNCTION_MACROS: readonly string[] = [
  "CREATE OR REPLACE MACRO generate_uuid() AS CAST(gen_random_uuid() AS VARCHAR)",
  "CREATE OR REPLACE MACRO timestamp_micros(x) AS make_timestamptz(CAST(x AS BIGINT))",
  "CREATE OR REPLACE MACRO timestamp_millis(x) AS make_timestamptz(CAST(x AS BIGINT) * 1000)",
  "CREATE OR REPLACE MACRO timestamp_seconds(x) AS make_timestamptz(CAST(x AS BIGINT) * 1000000)",
  "CREATE OR REPLACE MACRO unix_micros(x) AS epoch_us(x)",
  "CREATE OR REPLACE MACRO unix_millis(x) AS epoch_ms(x)",
  "CREATE OR REPLACE MACRO unix_seconds(x) AS CAST(floor(epoch(x)) AS BIGINT)",
  "CREATE OR REPLACE MACRO to_json_string(x) AS CAST(to_json(x) AS VARCHAR)",
  "CREATE OR REPLACE MACRO parse_json(x) AS json(x)",
  "CREATE OR REPLACE MACRO unix_date(x) AS CAST(x - DATE '1970-01-01' AS BIGINT)",
  "CREATE OR REPLACE MACRO code_points_to_string(x) AS array_to_string(list_transform(x, c -> chr(CAST(c AS INTEGER))), '')",
  "CREATE OR REPLACE MACRO bq_safe_divide(a, b) AS CASE WHEN b = 0 THEN NULL ELSE a / b END",
  "CREATE OR REPLACE MACRO current_datetime() AS CAST(now() AS TIMESTAMP)",
  "CREATE OR REPLACE MACRO ifnull(a, b) AS coalesce(a, b)",
  `CREATE OR REPLACE MACRO bq_string(x) AS CASE WHEN typeof(x) LIKE 'DECIMAL%' AND contains(CAST(x AS VARCHAR), '.') THEN regexp_replace(CAST(x AS VARCHAR), '\\.?0+$', '') ELSE CAST(x AS VARCHAR) END`,
];
