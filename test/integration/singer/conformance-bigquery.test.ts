import { afterAll, beforeAll, describe } from "vitest";
import { BigqueryLoader } from "../../../src/connectors/target-bigquery/bigquery-loader.js";
import { bigqueryColumnNames } from "../../../src/connectors/target-bigquery/bigquery-names.js";
import { bigqueryConfig, startBigqueryTarget, type BigqueryTarget } from "../connectors/bigquery-harness.js";
import { runConformanceSuite, type ConformanceRow } from "../../support/singer-conformance.js";

let target: BigqueryTarget;
beforeAll(async () => {
  target = await startBigqueryTarget();
});
afterAll(async () => {
  await target?.close();
});

const datasetOf = (id: string): string => `sluice_conf_${id}`.slice(0, 1000);

describe("Singer conformance: target-bigquery (emulator)", () => {
  runConformanceSuite(
    ({ dir, id }) => new BigqueryLoader(bigqueryConfig(target, datasetOf(id)), { projectDir: dir }),
    async (table, { id }) => {
      const dataset = target.client.dataset(datasetOf(id));
      const [datasetExists] = await dataset.exists();
      if (!datasetExists) return undefined;
      const tableName = table.table.replace(/[^\p{L}\p{M}\p{N}_-]/gu, "_");
      const bqTable = dataset.table(tableName);
      const [exists] = await bqTable.exists();
      if (!exists) return undefined;
      const [rows] = (await target.client.query({
        query: `SELECT * FROM \`${target.projectId}.${datasetOf(id)}.${tableName}\``,
        wrapIntegers: { integerTypeCastFunction: (value: string) => value },
      })) as unknown as [Record<string, unknown>[]];
      // Column names BigQuery cannot spell are rewritten: map them back to the Singer names.
      const names = bigqueryColumnNames(table.columns);
      return rows.map((row) => {
        const out: ConformanceRow = {};
        for (const column of table.columns) out[column] = plain(row[names.get(column)!]);
        return out;
      });
    },
    {
      cli: { loader: "target-bigquery", config: ({ id }) => bigqueryConfig(target, datasetOf(id)) },
      expectedFailures: {
        names_differing_only_in_case: {
          reason:
            "BigQuery compares column names without case, and a column's name must not depend on the other columns (it could change when one is added), so `Name` and `name` are refused",
          error: /source columns "Name" and "name" would both be BigQuery column "name"/,
        },
      },
    },
  );
});

/** BigQuery's client wraps NUMERIC/BIGNUMERIC in Big objects and JSON in text. */
function plain(value: unknown): unknown {
  if (value !== null && typeof value === "object" && "toFixed" in value) return String(value);
  if (value !== null && typeof value === "object" && "value" in value)
    return (value as { value: unknown }).value;
  return value;
}
