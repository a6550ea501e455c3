import { describe, expect, test } from "vitest";
import {
  partitionFilter,
  partitionGroups,
  partitionOf,
  type ColumnPartitioning,
} from "../../../src/connectors/target-bigquery/bigquery-partitions.js";

const byDay: ColumnPartitioning = { field: "day", unit: "DAY", columnType: "DATE" };
const byHour: ColumnPartitioning = { field: "at", unit: "HOUR", columnType: "TIMESTAMP" };
const byMonth: ColumnPartitioning = { field: "at", unit: "MONTH", columnType: "DATETIME" };

describe("target-bigquery partitions", () => {
  test("a value's partition: TIMESTAMP in UTC (its offset applied), DATE and DATETIME by their digits", () => {
    expect(partitionOf("2024-03-01 01:30:00+02:00", byHour)).toBe("2024-02-29 23:00:00");
    expect(partitionOf("2024-03-01 01:30:00+02", byHour)).toBe("2024-02-29 23:00:00");
    expect(partitionOf("2024-03-31", byDay)).toBe("2024-03-31 00:00:00");
    expect(partitionOf("2024-03-31 23:59:59.5", byMonth)).toBe("2024-03-01 00:00:00");
    expect(partitionOf(null, byDay)).toBeNull();
  });

  test("consecutive partitions are one constant range; the NULL partition is IS NULL; nothing is FALSE", () => {
    expect(
      partitionFilter(
        "T.`day`",
        {
          starts: [
            "2024-01-03 00:00:00",
            "2024-01-01 00:00:00",
            "2024-01-02 00:00:00",
            "2024-01-09 00:00:00",
          ],
          hasNull: true,
        },
        byDay,
      ),
    ).toBe(
      "(T.`day` >= DATE '2024-01-01' AND T.`day` < DATE '2024-01-04' OR T.`day` >= DATE '2024-01-09' AND T.`day` < DATE '2024-01-10' OR T.`day` IS NULL)",
    );
    expect(partitionFilter("T.`at`", { starts: ["2024-12-01 00:00:00"], hasNull: false }, byMonth)).toBe(
      "(T.`at` >= DATETIME '2024-12-01 00:00:00' AND T.`at` < DATETIME '2025-01-01 00:00:00')",
    );
    expect(partitionFilter("T.`at`", { starts: ["2024-01-01 23:00:00"], hasNull: false }, byHour)).toBe(
      "(T.`at` >= TIMESTAMP '2024-01-01 23:00:00+00:00' AND T.`at` < TIMESTAMP '2024-01-02 00:00:00+00:00')",
    );
    expect(partitionFilter("T.`at`", { starts: [], hasNull: false }, byHour)).toBe("FALSE");
    // The last day BigQuery holds has no upper bound (10000-01-01 is no DATE).
    expect(partitionFilter("T.`day`", { starts: ["9999-12-31 00:00:00"], hasNull: false }, byDay)).toBe(
      "(T.`day` >= DATE '9999-12-31')",
    );
  });

  test("groups of at most 4,000 partitions, the NULL partition counted", () => {
    const starts = Array.from({ length: 8000 }, (_, i) => `p${String(i).padStart(5, "0")}`);
    const groups = partitionGroups({ starts, hasNull: true });
    expect(groups.map((g) => g.starts.length + (g.hasNull ? 1 : 0))).toEqual([4000, 4000, 1]);
    expect(partitionGroups({ starts: starts.slice(0, 10), hasNull: true })).toEqual([
      { starts: starts.slice(0, 10), hasNull: true },
    ]);
  });
});
