import { describe, expect, test } from "vitest";
import { DataError } from "../../../src/errors.js";
import { wireConverterOf, wireValueOf } from "../../../src/connectors/tap-postgres/cdc/pgoutput-values.js";
import type { PgTypeInfo } from "../../../src/connectors/tap-postgres/postgres-types.js";

function scalar(typname: string): PgTypeInfo {
  return { formatted: typname, typname, typtype: "b", typcategory: "U", typmod: -1, dimensions: 0 };
}

/**
 * Values the integration test cannot make PostgreSQL send under sluice's settings: text from a
 * connection set up otherwise must fail loudly, naming the setting, never load wrong values.
 */
describe("walsender text that is not in the expected form", () => {
  test("types printed as they are need no converter", () => {
    for (const typname of ["int4", "numeric", "text", "timestamptz", "jsonb", "bool"]) {
      expect(wireConverterOf(scalar(typname))).toBeUndefined();
    }
    expect(wireValueOf("2024-01-01 00:00:00+00", scalar("timestamptz"))).toBe("2024-01-01 00:00:00+00");
  });

  test("bytea in escape format names bytea_output", () => {
    expect(() => wireValueOf("abc\\000", scalar("bytea"))).toThrow(DataError);
    expect(() => wireValueOf("abc\\000", scalar("bytea"))).toThrow(/bytea_output = 'hex'/);
  });

  test("an interval in another IntervalStyle names IntervalStyle", () => {
    expect(() => wireValueOf("P1Y2M", scalar("interval"))).toThrow(/IntervalStyle = 'postgres'/);
    expect(() => wireValueOf("", scalar("interval"))).toThrow(/IntervalStyle/);
  });

  test("an infinite interval is refused, as FULL_TABLE refuses it", () => {
    expect(() => wireValueOf("infinity", scalar("interval"))).toThrow(/infinite interval/);
  });

  test("money that is not a number names lc_monetary", () => {
    expect(() => wireValueOf("€", scalar("money"))).toThrow(/lc_monetary = 'C'/);
    // Accounting style negatives of other locales still read as negative.
    expect(wireValueOf("($1,234.50)", scalar("money"))).toBe("-1234.50");
  });

  test("a broken array or hstore names the column's type", () => {
    const intArray: PgTypeInfo = {
      formatted: "integer[]",
      typname: "_int4",
      typtype: "b",
      typcategory: "A",
      elementTypname: "int4",
      elementTyptype: "b",
      typmod: -1,
      dimensions: 1,
    };
    expect(() => wireValueOf("{1,2", intArray)).toThrow(/the integer\[\] value "\{1,2" could not be read/);
    expect(() => wireValueOf('"a"=>', scalar("hstore"))).toThrow(/hstore value/);
  });
});
