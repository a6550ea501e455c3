import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { METADATA_NAMES } from "../../../src/connectors/loader-core/metadata-columns.js";
import {
  bigqueryColumnNames,
  bigqueryTableName,
  isLegalDatasetId,
  legalColumnName,
} from "../../../src/connectors/target-bigquery/bigquery-names.js";
import { SchemaError } from "../../../src/errors.js";

describe("BigQuery table names", () => {
  test("dashes, letters of any script, digits and underscores stay; prefix and suffix are added", () => {
    expect(bigqueryTableName("public-events", "meltano_extract_")).toBe("meltano_extract_public-events");
    expect(bigqueryTableName("Événements-2024", "", "_raw")).toBe("Événements-2024_raw");
  });

  test("quotes, dots, spaces and other characters become underscores", () => {
    expect(bigqueryTableName('Order "Items"')).toBe("Order__Items_");
    expect(bigqueryTableName("a.b c$d")).toBe("a_b_c_d");
  });

  test("names are cut to BigQuery's 1,024 bytes without splitting a character", () => {
    const name = bigqueryTableName("é".repeat(600));
    expect(Buffer.byteLength(name)).toBeLessThanOrEqual(1024);
    expect(name).toBe("é".repeat(512));
  });
});

describe("BigQuery column names", () => {
  test("only ASCII letters, digits and underscores; no leading digit; no reserved prefix", () => {
    expect(legalColumnName("order-id")).toBe("order_id");
    expect(legalColumnName("2nd value")).toBe("_2nd_value");
    expect(legalColumnName("größe")).toBe("gr__e");
    expect(legalColumnName("_TABLE_name")).toBe("__TABLE_name");
    expect(legalColumnName("_partitiontime")).toBe("__partitiontime");
    expect(legalColumnName("")).toBe("_");
  });

  test("_CHANGE_ (the CDC pseudocolumns' prefix) is reserved too", () => {
    expect(legalColumnName("_CHANGE_TYPE")).toBe("__CHANGE_TYPE");
    expect(legalColumnName("_change_sequence_number")).toBe("__change_sequence_number");
  });

  test("a name depends on the source name alone: adding a column whose name would collide never renames one", () => {
    expect(bigqueryColumnNames(["a-b"]).get("a-b")).toBe("a_b");
    expect(bigqueryColumnNames(["id", "Event Id", "order"])).toEqual(
      new Map([
        ["id", "id"],
        ["Event Id", "Event_Id"],
        ["order", "order"],
      ]),
    );
  });

  test("two source columns with one BigQuery name are refused, naming both and what to do", () => {
    expect(() => bigqueryColumnNames(["id", "a-b", "a_b"], [], "public-t")).toThrow(SchemaError);
    expect(() => bigqueryColumnNames(["id", "a-b", "a_b"], [], "public-t")).toThrow(
      'target-bigquery: stream public-t: source columns "a-b" and "a_b" would both be BigQuery column "a_b"',
    );
    expect(() => bigqueryColumnNames(["Name", "name"], [], "public-t")).toThrow(
      /"Name" and "name" would both be BigQuery column "name".*Rename one of them at the source, or leave one out of the stream \(metadata public-t\.name: selected: false\)/,
    );
    const long = "x".repeat(300);
    expect(() => bigqueryColumnNames([`${long}a`, `${long}b`])).toThrow(
      /would both be BigQuery column "x{300}"/,
    );
  });

  test("a source column named as a metadata column takes _2, whatever else the stream has", () => {
    expect(bigqueryColumnNames(["_sdc_sequence", "x"], ["_sdc_sequence"]).get("_sdc_sequence")).toBe(
      "_sdc_sequence_2",
    );
    expect(bigqueryColumnNames(["x", "_SDC_Sequence"], ["_sdc_sequence"]).get("_SDC_Sequence")).toBe(
      "_SDC_Sequence_2",
    );
  });

  /**
   * Runs over one table: each adds source columns (and may drop some), names chosen to collide
   * once sanitized (dashes and underscores, case variants, long names cut to one prefix, leading
   * digits, reserved prefixes, metadata names). Each run either names every column (legal,
   * unique without case, apart from metadata, and every column the table had keeps its name), or
   * is refused naming two of its source columns that fold to one name; the table keeps its
   * columns then (the run writes nothing).
   */
  test("property: across runs a column's BigQuery name never changes, and collisions are refused naming both", () => {
    const long = "c".repeat(299);
    const pool = [
      "a-b",
      "a_b",
      "A_B",
      "a b",
      "Name",
      "name",
      "NAME",
      "id",
      "ID",
      "1abc",
      "_1abc",
      "_TABLE_x",
      "__TABLE_x",
      "_partitiontime",
      "_PARTITIONTIME",
      "_CHANGE_TYPE",
      "__change_type",
      "_sdc_sequence",
      "_sdc_sequence_2",
      "_sdc_extracted_at",
      "größe",
      "gr__e",
      `${long}1`,
      `${long}2`,
      `${long}`,
      "order",
      "Order",
      "",
      "_",
    ];
    const name = fc.oneof(fc.constantFrom(...pool), fc.string({ maxLength: 6 }));
    const run = fc.record({
      add: fc.uniqueArray(name, { maxLength: 4 }),
      drop: fc.array(fc.nat(), { maxLength: 2 }),
    });
    fc.assert(
      fc.property(fc.array(run, { minLength: 1, maxLength: 8 }), (runs) => {
        /** Source column → BigQuery name, of the columns the table has (kept after a drop). */
        const table = new Map<string, string>();
        let stream: string[] = [];
        for (const { add, drop } of runs) {
          let next = stream.filter((_, i) => !drop.includes(i));
          next = [...next, ...add.filter((n) => !next.includes(n))];
          const fold = (n: string): string => {
            const legal = legalColumnName(n).toLowerCase();
            return METADATA_NAMES.includes(legal) ? `${legal}_2` : legal;
          };
          const clash = next.findIndex((n, i) => next.findIndex((m) => fold(m) === fold(n)) !== i);
          let names: Map<string, string>;
          try {
            names = bigqueryColumnNames(next, METADATA_NAMES, "public-t");
          } catch (error) {
            expect(error).toBeInstanceOf(SchemaError);
            expect(clash).toBeGreaterThanOrEqual(0);
            const first = next.find((m) => fold(m) === fold(next[clash]!))!;
            expect((error as Error).message).toContain(`source columns "${first}" and "${next[clash]}"`);
            expect((error as Error).message).toContain("selected: false");
            continue; // refused before any write: the table and the stream stay as they were
          }
          expect(clash).toBe(-1);
          const seen = new Set<string>();
          for (const [source, column] of names) {
            expect(column).toMatch(/^[A-Za-z_][A-Za-z0-9_]{0,299}$/);
            expect(column.toLowerCase()).not.toMatch(
              /^(_table_|_file_|_partition|_row_timestamp|__root__|_colon_|_change_)/,
            );
            expect(METADATA_NAMES).not.toContain(column.toLowerCase());
            expect(seen.has(column.toLowerCase())).toBe(false);
            seen.add(column.toLowerCase());
            const before = table.get(source);
            if (before !== undefined) expect(column).toBe(before);
            table.set(source, column);
          }
          stream = next;
        }
      }),
      { numRuns: 300 },
    );
  });

  test("dataset ids are checked, never rewritten", () => {
    expect(isLegalDatasetId("orders_raw")).toBe(true);
    expect(isLegalDatasetId("orders-raw")).toBe(false);
  });
});
