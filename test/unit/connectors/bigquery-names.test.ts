import { describe, expect, test } from "vitest";
import {
  bigqueryColumnNames,
  bigqueryTableName,
  isLegalDatasetId,
  legalColumnName,
} from "../../../src/connectors/target-bigquery/bigquery-names.js";

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

  test("names equal without case get _2, _3 in column order; legal names keep theirs first", () => {
    const names = bigqueryColumnNames(["a-b", "A_B", "id", "ID", "a b"]);
    expect([...names.entries()]).toEqual([
      ["a-b", "a_b_2"],
      ["A_B", "A_B"],
      ["id", "id"],
      ["ID", "ID_2"],
      ["a b", "a_b_3"],
    ]);
  });

  test("a column keeps its name when another column is added or removed", () => {
    const before = bigqueryColumnNames(["id", "a-b", "a_b"]);
    const after = bigqueryColumnNames(["a-b", "id", "new col", "a_b"]);
    expect(after.get("a_b")).toBe(before.get("a_b"));
    expect(after.get("a-b")).toBe(before.get("a-b"));
    expect(bigqueryColumnNames(["a_b"]).get("a_b")).toBe("a_b");
  });

  test("metadata column names are reserved for sluice", () => {
    expect(bigqueryColumnNames(["_sdc_sequence", "x"], ["_sdc_sequence"]).get("_sdc_sequence")).toBe(
      "_sdc_sequence_2",
    );
  });

  test("dataset ids are checked, never rewritten", () => {
    expect(isLegalDatasetId("orders_raw")).toBe(true);
    expect(isLegalDatasetId("orders-raw")).toBe(false);
  });
});
