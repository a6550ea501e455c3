import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { expect, test } from "vitest";
import { spawn } from "node:child_process";
import type { Loader, PluginConfig } from "../../src/connectors/connector.js";
import { columnTypeOfJsonSchema } from "../../src/connectors/singer/singer-column-types.js";
import { runSingerTarget } from "../../src/connectors/singer/singer-target.js";
import { DataError } from "../../src/errors.js";
import type { JsonSchema } from "../../src/protocol/catalog.js";
import { readSingerMessages } from "../../src/protocol/singer-reader.js";
import { CLI_PATH } from "./run-cli.js";
import { tempDir } from "./pipeline.js";

/**
 * The Singer conformance kit: canonical message files (`test/fixtures/singer-conformance/`,
 * modelled on meltano/sdk's `target_test_streams/*.singer`) fed through the Singer target
 * (`runSingerTarget`, what `sluice target <loader>` runs) into any loader, then checked through
 * the loader's own `readTable` adapter against the expectations below: the rows each table holds
 * afterwards, and the states printed.
 *
 * A test file of a loader calls `runConformanceSuite(...)` inside a `describe` and gets one
 * vitest case per file. A case the loader is known to fail is listed in `expectedFailures` with
 * its reason: it runs as `test.fails`, so it is reported, and turns red the day the loader is
 * fixed (then remove it from the list).
 */

export const CONFORMANCE_DIR = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  "../fixtures/singer-conformance",
);

/** A row as the adapter read it: column name → value in whatever form the engine returns. */
export type ConformanceRow = Record<string, unknown>;

/** What a `readTable` adapter is asked for: a stream and where the target put it. */
export interface ConformanceTable {
  stream: string;
  /** As the target names it: the part of the stream before the first `-`, else `main`. */
  schema: string;
  /** The rest of the stream name (or all of it). */
  table: string;
  /** The property names of the stream's last SCHEMA, in order. */
  columns: readonly string[];
  keyProperties: readonly string[];
}

/** One run of one case: a folder of its own and a name unique to it (e.g. for a dataset). */
export interface ConformanceContext {
  dir: string;
  caseName: string;
  /** `[a-z0-9_]`, unique per run of a case. */
  id: string;
}

/** Makes a fresh loader for one case. */
export type ConformanceLoaderFactory = (context: ConformanceContext) => Promise<Loader> | Loader;

/**
 * Reads a stream's table back as rows keyed by the Singer property names (an adapter renaming
 * columns maps them back), `_sdc_*` metadata columns allowed (they are ignored). `undefined`
 * when the table does not exist. Called after the target finished and, unless
 * `readsWhileLoading` is false, also each time a state is printed.
 */
export type ConformanceTableReader = (
  table: ConformanceTable,
  context: ConformanceContext,
) => Promise<ConformanceRow[] | undefined>;

export interface ConformanceSuiteOptions {
  /**
   * Case name → why the loader fails it. Those cases run as `test.fails`; with `error`, as a test
   * that the case fails with that message (a clear refusal rather than a wrong table).
   */
  expectedFailures?: Readonly<Record<string, string | { reason: string; error: RegExp }>>;
  /**
   * Whether `readTable` may run while the loader is open (false for an engine that locks its
   * file, as DuckDB does): the check that a printed state's data is visible needs it. Default true.
   */
  readsWhileLoading?: boolean;
  /** Called once per case after it ran, to drop what it created. */
  cleanUp?: (context: ConformanceContext) => Promise<void>;
  /**
   * Whether `readTable` returns a JSON column (object, array, or untyped property) as its JSON
   * text, as SQL engines do, rather than as the parsed value. Default true.
   */
  jsonAsText?: boolean;
  /**
   * The loader as `sluice target <loader> --config <file>` (the built CLI, `dist/`): then
   * `record_before_schema`, `multiple_state_messages` and `pipelinewise_incremental` (two runs)
   * also run through the command, checking its exit status and the states on its stdout. The
   * config is written to the case's folder.
   */
  cli?: { loader: string; config: (context: ConformanceContext) => PluginConfig };
  timeoutMs?: number;
}

interface ConformanceCase {
  name: string;
  /** The message lines: the fixture file's, or generated. */
  lines: () => string[];
  /**
   * Later runs of the same tap into the same tables, each a process of its own (a fresh
   * loader): their lines, in order. States and visibility are counted across all runs.
   */
  laterRuns?: (() => string[])[];
  /** Stream → expected rows (properties missing from a row are expected to be null). */
  tables?: Record<string, ConformanceRow[]>;
  /** The states printed, in order, as JSON text equal to the input's. */
  states?: string[];
  /** Total rows of the case's tables visible as each state is printed. */
  visibleAtStates?: number[];
  /** The target must fail with this message, print no state and load nothing. */
  fails?: RegExp;
}

const fixture = (name: string) => (): string[] =>
  fs
    .readFileSync(path.join(CONFORMANCE_DIR, `${name}.singer`), "utf8")
    .split("\n")
    .filter(Boolean);

/** The `value` of each STATE line of a fixture, in order, as the target must print them. */
const stateLines = (...names: string[]): string[] =>
  names
    .flatMap((name) => fixture(name)())
    .map((line) => JSON.parse(line) as { type: string; value?: unknown })
    .filter((m) => m.type === "STATE")
    .map((m) => JSON.stringify(m.value));

const VERY_LONG_TEXT = "long text with ünïcödé and 🦆 ".repeat(200_000); // ~6.4 MB
const VERY_LONG_ARRAY = Array.from({ length: 150_000 }, (_, i) => ({ i, s: `item ${i}` })); // ~3.5 MB

function wideRow(id: number): ConformanceRow {
  const row: ConformanceRow = { id };
  for (let i = 0; i < 1000; i++) row[`col_${String(i).padStart(4, "0")}`] = id * 10000 + i;
  return row;
}

export const CONFORMANCE_CASES: readonly ConformanceCase[] = [
  {
    name: "schema_updates",
    lines: fixture("schema_updates"),
    tables: {
      schema_updates: [
        { id: 1, a: "1.25", b: "one again" },
        { id: 2, a: 20 },
        { id: 3, a: 30, b: "three" },
        { id: 4, a: "4.5", b: "four" },
      ],
    },
    states: stateLines("schema_updates"),
    visibleAtStates: [2, 4],
  },
  {
    name: "pk_updates",
    lines: fixture("pk_updates"),
    tables: {
      pk_updates: [
        { id: 1, region: "eu", v: "d" },
        { id: 1, region: "us", v: "c" },
        { id: 2, region: "eu", v: "b" },
      ],
    },
    states: stateLines("pk_updates"),
    visibleAtStates: [2, 3],
  },
  {
    name: "duplicate_records",
    lines: fixture("duplicate_records"),
    tables: {
      duplicate_records: [
        { id: 1, v: "last" },
        { id: 2, v: null },
      ],
    },
    states: stateLines("duplicate_records"),
    visibleAtStates: [2, 2],
  },
  {
    name: "record_before_schema",
    lines: fixture("record_before_schema"),
    fails: /line 1: RECORD for stream "record_before_schema" before its SCHEMA message/,
  },
  {
    name: "special_chars_in_names",
    lines: fixture("special_chars_in_names"),
    tables: {
      'Spécial chars-Tåble "quoted" with spaces-and-dashes': [
        {
          id: 1,
          "first name": "Ada",
          "last-name": "Lovelace",
          'it\'s "quoted"': "q",
          "ünïcödé 名前": "ü",
          select: "s",
          from: 7,
          Group: "g",
          "1st": "one",
        },
      ],
      order: [{ id: 1, table: "reserved words as names" }],
    },
    states: stateLines("special_chars_in_names"),
  },
  {
    name: "names_differing_only_in_case",
    lines: fixture("names_differing_only_in_case"),
    tables: { case_only: [{ id: 1, Name: "upper", name: "lower" }] },
    states: stateLines("names_differing_only_in_case"),
  },
  {
    name: "multiple_state_messages",
    lines: fixture("multiple_state_messages"),
    tables: {
      multi_a: [
        { id: 1, v: "a1" },
        { id: 2, v: "a2" },
      ],
      multi_b: [
        { id: 1, v: "b1" },
        { id: 2, v: "b2" },
        { id: 3, v: "b3" },
      ],
    },
    states: stateLines("multiple_state_messages"),
    visibleAtStates: [0, 2, 3, 3, 5],
  },
  {
    name: "activate_version",
    lines: fixture("activate_version"),
    tables: {
      activate_version: [
        { id: 2, v: "new 2" },
        { id: 4, v: "new 4" },
      ],
    },
    // The state inside version 2 is held until version 2 is swapped in: the old rows are gone by then.
    states: stateLines("activate_version"),
    visibleAtStates: [3, 2, 2],
  },
  // Table versions as real taps send them (see each file): ACTIVATE_VERSION removes the rows of
  // other versions, never those of its own, whichever run wrote them.
  {
    name: "pipelinewise_full_table",
    lines: fixture("pipelinewise_full_table-run1"),
    laterRuns: [fixture("pipelinewise_full_table-run2")],
    tables: {
      pw_full_table: [
        { id: 1, name: "apple", price: 1.6 },
        { id: 2, name: "pear", price: 2.25 },
        { id: 4, name: "fig", price: 3 },
        { id: 5, name: "kiwi", price: 0.5 },
      ],
    },
    states: stateLines("pipelinewise_full_table-run1", "pipelinewise_full_table-run2"),
    // Run 1 is staged (its states wait for the swap); run 2 merges into the table as it comes,
    // and row 3 goes at its closing ACTIVATE_VERSION.
    visibleAtStates: [0, 4, 4, 4, 4, 4],
  },
  {
    name: "pipelinewise_full_table_resumed",
    lines: fixture("pipelinewise_full_table_resumed-run1"),
    laterRuns: [
      fixture("pipelinewise_full_table_resumed-run2"),
      fixture("pipelinewise_full_table_resumed-run3"),
    ],
    tables: {
      pw_full_table_resumed: [
        { id: 1, name: "apple", price: 1.6 },
        { id: 2, name: "pear", price: 2.25 },
        { id: 4, name: "fig", price: 3 },
        { id: 5, name: "kiwi", price: 0.5 },
      ],
    },
  },
  {
    name: "pipelinewise_incremental",
    lines: fixture("pipelinewise_incremental-run1"),
    laterRuns: [fixture("pipelinewise_incremental-run2")],
    tables: {
      pw_incremental: [
        { id: 1, updated_at: "2026-12-01T00:00:01+00:00", v: "a" },
        { id: 2, updated_at: "2026-12-02T00:00:00+00:00", v: "b2" },
        { id: 3, updated_at: "2026-12-01T00:00:03+00:00", v: "c" },
        { id: 4, updated_at: "2026-12-01T00:00:04+00:00", v: "d" },
        { id: 5, updated_at: "2026-12-02T00:00:05+00:00", v: "e" },
      ],
    },
    states: stateLines("pipelinewise_incremental-run1", "pipelinewise_incremental-run2"),
    visibleAtStates: [0, 4, 4, 5],
  },
  {
    name: "log_based_truncate",
    lines: fixture("log_based_truncate"),
    tables: {
      log_based_truncate: [
        { id: 2, v: "b after" },
        { id: 4, v: "d" },
      ],
    },
    states: stateLines("log_based_truncate"),
    // The tap's state with the new version comes before its ACTIVATE_VERSION, which removes the
    // old rows in place, at once.
    visibleAtStates: [3, 3, 2],
  },
  {
    name: "sdk_full_table",
    lines: fixture("sdk_full_table-run1"),
    laterRuns: [fixture("sdk_full_table-run2")],
    tables: {
      sdk_full_table: [
        { id: 1, v: "one again" },
        { id: 3, v: "three" },
      ],
    },
    states: stateLines("sdk_full_table-run1", "sdk_full_table-run2"),
    visibleAtStates: [3, 2],
  },
  {
    name: "very_wide",
    lines: fixture("very_wide"),
    tables: { very_wide: [wideRow(1), wideRow(2), wideRow(3)] },
    states: stateLines("very_wide"),
  },
  {
    name: "very_long_records",
    lines: () => [
      JSON.stringify({
        type: "SCHEMA",
        stream: "very_long_records",
        schema: {
          type: "object",
          properties: {
            id: { type: "integer" },
            text: { type: ["null", "string"] },
            items: { type: ["null", "array"] },
          },
        },
        key_properties: ["id"],
      }),
      JSON.stringify({
        type: "RECORD",
        stream: "very_long_records",
        record: { id: 1, text: VERY_LONG_TEXT },
      }),
      JSON.stringify({
        type: "RECORD",
        stream: "very_long_records",
        record: { id: 2, items: VERY_LONG_ARRAY },
      }),
      JSON.stringify({ type: "RECORD", stream: "very_long_records", record: { id: 3, text: "short" } }),
      JSON.stringify({ type: "STATE", value: { bookmarks: { very_long_records: { n: 3 } } } }),
    ],
    tables: {
      very_long_records: [
        { id: 1, text: VERY_LONG_TEXT },
        { id: 2, items: VERY_LONG_ARRAY },
        { id: 3, text: "short" },
      ],
    },
    states: ['{"bookmarks":{"very_long_records":{"n":3}}}'],
  },
  {
    name: "unicode_and_numbers",
    lines: fixture("unicode_and_numbers"),
    tables: {
      unicode_and_numbers: [
        {
          id: 1,
          big: "9223372036854775807",
          n: "12345678901234567890.123456789012345678",
          t: "日本語のテキスト",
          b: true,
        },
        { id: 2, big: "-9223372036854775808", n: "0.1", t: "emoji 🦆🇫🇷 and combining é", b: false },
        {
          id: 3,
          big: "9007199254740993",
          n: "-0.000000000000000000012345",
          t: "quotes \" ' , commas; tab\there\nnewline \\ backslash",
        },
        { id: 4 },
        { id: 5, big: 0, n: "3.14159265358979323846264338327950288", t: "", b: true },
      ],
    },
    states: stateLines("unicode_and_numbers"),
  },
  {
    name: "camelcase",
    lines: fixture("camelcase"),
    tables: {
      CamelCaseStream: [
        { id: 1, firstName: "Grace", lastName: "Hopper", isActive: true, HTTPStatusCode: 200 },
        { id: 2, firstName: "Alan", lastName: "Turing", isActive: false, HTTPStatusCode: 404 },
      ],
    },
    states: stateLines("camelcase"),
  },
  {
    name: "nested_objects_and_arrays",
    lines: fixture("nested_objects_and_arrays"),
    tables: {
      nested_objects_and_arrays: [
        {
          id: 1,
          obj: { a: 1, inner: { deep: { deeper: ["x", { y: null }] } } },
          arr: [1, 2, 3],
          objs: [{ k: "v" }, { k: "w", n: [true, false] }],
          anything: "a string",
        },
        { id: 2, obj: {}, arr: [], objs: [], anything: 42 },
        { id: 3, anything: { mixed: [1, "two", null] } },
      ],
    },
    states: stateLines("nested_objects_and_arrays"),
  },
  {
    name: "no_primary_keys",
    lines: fixture("no_primary_keys"),
    tables: {
      no_primary_keys: [
        { id: 1, v: "same" },
        { id: 1, v: "same" },
        { id: 1, v: "same" },
        { id: 2, v: "other" },
      ],
    },
    states: stateLines("no_primary_keys"),
    visibleAtStates: [2, 4],
  },
  {
    name: "optional_attributes",
    lines: fixture("optional_attributes"),
    tables: {
      optional_attributes: [
        { id: 1, optional_string: "all", optional_int: 1, optional_object: { a: 1 } },
        { id: 2 },
        { id: 3, optional_int: 3 },
        { id: 4 },
      ],
    },
    states: stateLines("optional_attributes"),
  },
];

/** Registers one vitest case per conformance file, for the loader `loaderFactory` makes. */
export function runConformanceSuite(
  loaderFactory: ConformanceLoaderFactory,
  readTable: ConformanceTableReader,
  options: ConformanceSuiteOptions = {},
): void {
  const knownFailures = options.expectedFailures ?? {};
  for (const name of Object.keys(knownFailures)) {
    if (!CONFORMANCE_CASES.some((c) => c.name === name)) throw new Error(`no conformance case "${name}"`);
  }
  for (const conformanceCase of CONFORMANCE_CASES) {
    const known = knownFailures[conformanceCase.name];
    const body = (): Promise<void> => runCase(conformanceCase, loaderFactory, readTable, options);
    const timeout = options.timeoutMs ?? 120_000;
    const cli = options.cli;
    if (cli && CLI_CASES.includes(conformanceCase.name)) {
      test(
        `${conformanceCase.name} through \`sluice target ${cli.loader}\``,
        () => runCase(conformanceCase, loaderFactory, readTable, options, cli),
        timeout,
      );
    }
    if (known === undefined) test(conformanceCase.name, body, timeout);
    else if (typeof known === "string") {
      test.fails(`${conformanceCase.name} (known limitation: ${known})`, body, timeout);
    } else {
      test(
        `${conformanceCase.name} (known limitation: ${known.reason})`,
        async () => {
          await expect(body()).rejects.toThrow(known.error);
        },
        timeout,
      );
    }
  }
}

let runCounter = 0;

async function runCase(
  conformanceCase: ConformanceCase,
  loaderFactory: ConformanceLoaderFactory,
  readTable: ConformanceTableReader,
  options: ConformanceSuiteOptions,
  cli?: NonNullable<ConformanceSuiteOptions["cli"]>,
): Promise<void> {
  const dir = tempDir(`sluice-conformance-${conformanceCase.name}-`);
  runCounter += 1;
  const context: ConformanceContext = {
    dir,
    caseName: conformanceCase.name,
    id: `${conformanceCase.name.toLowerCase()}_${Date.now().toString(36)}_${runCounter}`,
  };
  const runs = [conformanceCase.lines(), ...(conformanceCase.laterRuns ?? []).map((run) => run())];
  const lines = runs.flat();
  const tables = tablesOf(lines);
  const printed: string[] = [];
  const visible: number[] = [];
  let failure: unknown;
  for (const runLines of runs) {
    if (cli) {
      const result = await runTargetCommand(cli.loader, cli.config(context), runLines, dir);
      printed.push(...result.stdout.split("\n").filter(Boolean));
      if (result.code !== 0) failure = new CommandFailure(result.code, result.stderr);
      if (result.code === 0 && conformanceCase.fails) {
        throw new Error(`sluice target exited 0 on ${conformanceCase.name}\n${result.stderr}`);
      }
    } else {
      const run = await runInProcess(
        conformanceCase,
        runLines,
        tables,
        loaderFactory,
        readTable,
        options,
        context,
      );
      printed.push(...run.printed);
      visible.push(...run.visible);
      failure = run.failure;
    }
    if (failure) break;
  }
  const checkVisible = !cli && (options.readsWhileLoading ?? true);
  try {
    if (conformanceCase.fails) {
      expect(failure).toBeInstanceOf(cli ? CommandFailure : DataError);
      expect((failure as Error).message).toMatch(conformanceCase.fails);
      expect(printed).toEqual([]);
      for (const table of tables.values()) {
        expect((await readTable(table, context)) ?? [], `rows of ${table.stream}`).toEqual([]);
      }
      return;
    }
    if (failure) throw failure;
    if (conformanceCase.states) expect(printed, "states printed").toEqual(conformanceCase.states);
    if (checkVisible && conformanceCase.visibleAtStates) {
      expect(visible, "rows visible as each state was printed").toEqual(conformanceCase.visibleAtStates);
    }
    for (const [stream, expected] of Object.entries(conformanceCase.tables ?? {})) {
      const table = tables.get(stream);
      if (!table) throw new Error(`conformance case ${conformanceCase.name} has no SCHEMA for ${stream}`);
      const actual = await readTable(table, context);
      expect(actual, `table of ${stream}`).toBeDefined();
      const kinds = kindsOf(lines, stream);
      const normalize =
        (jsonAsText: boolean) =>
        (row: ConformanceRow): string =>
          JSON.stringify(table.columns.map((c) => [c, canonical(row[c], kinds.get(c), jsonAsText)]));
      const actualRows = actual!.map(normalize(options.jsonAsText ?? true)).sort();
      const expectedRows = expected.map(normalize(false)).sort();
      if (stream === "very_long_records" || stream === "very_wide") {
        // Diffs of megabyte rows are unreadable: compare, and say which row differs.
        expect(actualRows.length, `rows of ${stream}`).toBe(expectedRows.length);
        for (let i = 0; i < expectedRows.length; i++) {
          expect(actualRows[i] === expectedRows[i], `row ${i} of ${stream} as expected`).toBe(true);
        }
      } else {
        expect(
          actualRows.map((r) => JSON.parse(r) as unknown),
          `rows of ${stream}`,
        ).toEqual(expectedRows.map((r) => JSON.parse(r) as unknown));
      }
    }
  } finally {
    await options.cleanUp?.(context);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Each stream's table (from its last SCHEMA), in order of first appearance. */
function tablesOf(lines: readonly string[]): Map<string, ConformanceTable> {
  const tables = new Map<string, ConformanceTable>();
  for (const line of lines) {
    if (!line.startsWith('{"type":"SCHEMA"')) continue;
    const message = JSON.parse(line) as {
      stream: string;
      schema: JsonSchema;
      key_properties?: string[];
    };
    const dash = message.stream.indexOf("-");
    tables.set(message.stream, {
      stream: message.stream,
      schema: dash > 0 ? message.stream.slice(0, dash) : "main",
      table: dash > 0 ? message.stream.slice(dash + 1) : message.stream,
      columns: Object.keys(message.schema.properties ?? {}),
      keyProperties: message.key_properties ?? [],
    });
  }
  // A record's stream with no SCHEMA at all (record_before_schema) still names a table to check.
  for (const line of lines) {
    const match = /^\{"type":"RECORD","stream":("(?:[^"\\]|\\.)*")/.exec(line);
    if (!match) continue;
    const stream = JSON.parse(match[1]!) as string;
    if (!tables.has(stream)) {
      tables.set(stream, { stream, schema: "main", table: stream, columns: [], keyProperties: [] });
    }
  }
  return tables;
}

type ValueKind = "number" | "boolean" | "json" | "string";

function kindsOf(lines: readonly string[], stream: string): Map<string, ValueKind> {
  let properties: Record<string, JsonSchema> = {};
  for (const line of lines) {
    if (!line.startsWith('{"type":"SCHEMA"')) continue;
    const message = JSON.parse(line) as { stream: string; schema: JsonSchema };
    if (message.stream === stream) properties = message.schema.properties ?? {};
  }
  const kinds = new Map<string, ValueKind>();
  for (const [name, schema] of Object.entries(properties)) {
    const kind = columnTypeOfJsonSchema(schema).type.kind;
    kinds.set(
      name,
      kind === "integer" || kind === "decimal"
        ? "number"
        : kind === "boolean"
          ? "boolean"
          : kind === "json"
            ? "json"
            : "string",
    );
  }
  return kinds;
}

/**
 * One spelling for a value however the engine returned it: numbers as plain decimal text
 * without trailing zeros, booleans as booleans, JSON (a value or its text) with sorted keys.
 */
function canonical(value: unknown, kind: ValueKind | undefined, jsonAsText: boolean): unknown {
  if (value === null || value === undefined) return null;
  switch (kind) {
    case "number":
      return plainDecimal(String(value));
    case "boolean":
      return value === true || value === "true";
    case "json":
      return sortedJson(jsonAsText && typeof value === "string" ? (JSON.parse(value) as unknown) : value);
    default:
      return value instanceof Date ? value.toISOString() : String(value);
  }
}

function sortedJson(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortedJson);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, sortedJson((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

/** `1.2500` → `1.25`, `-1.2345E-20` → `-0.000000000000000000012345`, `7.0` → `7`. */
export function plainDecimal(text: string): string {
  const match = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(text.trim());
  if (!match) return text;
  const sign = match[1] === "-" ? "-" : "";
  let digits = (match[2] ?? "") + (match[3] ?? "");
  let point = (match[2] ?? "").length + Number(match[4] ?? 0);
  if (point < 0) {
    digits = "0".repeat(-point) + digits;
    point = 0;
  }
  if (point > digits.length) digits += "0".repeat(point - digits.length);
  const whole = digits.slice(0, point).replace(/^0+/, "") || "0";
  const fraction = digits.slice(point).replace(/0+$/, "");
  const result = fraction ? `${whole}.${fraction}` : whole;
  return result === "0" ? "0" : sign + result;
}

/** Cases also run through `sluice target` when a suite gives `cli`. */
const CLI_CASES = ["record_before_schema", "multiple_state_messages", "pipelinewise_incremental"];

class CommandFailure extends Error {
  constructor(
    readonly code: number | null,
    stderr: string,
  ) {
    super(`exit ${code}: ${stderr}`);
  }
}

async function runInProcess(
  conformanceCase: ConformanceCase,
  lines: string[],
  /** Every run's tables, for what is visible. */
  tables: Map<string, ConformanceTable>,
  loaderFactory: ConformanceLoaderFactory,
  readTable: ConformanceTableReader,
  options: ConformanceSuiteOptions,
  context: ConformanceContext,
): Promise<{ printed: string[]; visible: number[]; failure: unknown }> {
  const loader = await loaderFactory(context);
  const spoolDir = path.join(context.dir, "spool");
  fs.mkdirSync(spoolDir, { recursive: true });
  const printed: string[] = [];
  const visible: number[] = [];
  const checkVisible = options.readsWhileLoading ?? true;
  let failure: unknown;
  try {
    await loader.test();
    await runSingerTarget(
      readSingerMessages(
        lines.map((l) => `${l}\n`),
        { pluginName: conformanceCase.name },
      ),
      {
        loader,
        inputName: conformanceCase.name,
        spoolDir,
        emitState: async (json) => {
          printed.push(json);
          if (checkVisible && conformanceCase.visibleAtStates) {
            let total = 0;
            for (const table of tables.values()) total += (await readTable(table, context))?.length ?? 0;
            visible.push(total);
          }
        },
        // Small batches, so that a case spans several of them.
        maxBatchRows: 2,
        maxBatchBytes: 1024 * 1024,
      },
    );
  } catch (error) {
    failure = error;
  } finally {
    await loader.close();
  }
  return { printed, visible, failure };
}

/** `sluice target <loader> --config <file>` over `lines`, to its end. */
function runTargetCommand(
  loader: string,
  config: PluginConfig,
  lines: readonly string[],
  dir: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const configFile = path.join(dir, "target-config.json");
  fs.writeFileSync(configFile, JSON.stringify(config));
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: "1", TMPDIR: dir };
  for (const name of Object.keys(env)) if (/^(TARGET_|SLUICE_|MELTANO_)/.test(name)) delete env[name];
  const child = spawn(
    process.execPath,
    [CLI_PATH, "--log-format", "text", "target", loader, "--config", configFile, "--batch-size-rows", "2"],
    { cwd: dir, env, stdio: ["pipe", "pipe", "pipe"] },
  );
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  child.stdin.on("error", () => undefined); // the target may exit before reading everything
  child.stdin.end(lines.map((l) => `${l}\n`).join(""));
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}
