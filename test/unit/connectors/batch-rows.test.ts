import { describe, expect, test } from "vitest";
import { encoderFor, intervalToIso8601, timestampToRfc3339 } from "../../../src/connectors/batch-rows.js";
import type { ColumnType } from "../../../src/connectors/column-type.js";

const t = (type: Record<string, unknown>): ColumnType => ({ sqlType: "x", ...type }) as ColumnType;

describe("Singer JSON forms of batch fields", () => {
  test("numbers are written from their text, so they stay exact", () => {
    expect(encoderFor(t({ kind: "integer", bits: 64 }))("9223372036854775807")).toBe("9223372036854775807");
    expect(encoderFor(t({ kind: "decimal" }))("12345678901234567890.0123456789")).toBe(
      "12345678901234567890.0123456789",
    );
    expect(encoderFor(t({ kind: "decimal" }))("NaN")).toBe('"NaN"');
    expect(encoderFor(t({ kind: "float", bits: 64 }))("-Infinity")).toBe('"-Infinity"');
    expect(encoderFor(t({ kind: "float", bits: 64 }))("1e+30")).toBe("1e30");
  });

  test("timestamps become RFC 3339", () => {
    expect(timestampToRfc3339("2024-01-31 12:00:00.5+00")).toBe("2024-01-31T12:00:00.5+00:00");
    expect(timestampToRfc3339("2024-01-31 12:00:00+05:30")).toBe("2024-01-31T12:00:00+05:30");
    expect(timestampToRfc3339("2024-01-31 12:00:00")).toBe("2024-01-31T12:00:00");
    expect(timestampToRfc3339("infinity")).toBe("infinity");
  });

  test("intervals become ISO 8601 durations", () => {
    expect(intervalToIso8601("14 months 3 days 14706500000 microseconds")).toBe("P1Y2M3DT4H5M6.5S");
    expect(intervalToIso8601("0 months -1 days 7200000000 microseconds")).toBe("P-1DT2H");
    expect(intervalToIso8601("0 months 0 days 0 microseconds")).toBe("PT0S");
  });

  test("arrays keep NULL elements and nesting", () => {
    const encode = encoderFor(t({ kind: "array", dimensions: 2, element: t({ kind: "integer", bits: 32 }) }));
    expect(encode('[["1",null],["3","4"]]')).toBe("[[1,null],[3,4]]");
  });
});
