import { describe, expect, test } from "vitest";
import {
  addColumnSql,
  addColumnsSql,
  mergeSql,
  truncateSql,
  widenColumnSql,
} from "../../../src/connectors/target-bigquery/bigquery-sql.js";
import {
  planMerge,
  type MergeInput,
  type MergePlan,
} from "../../../src/connectors/loader-core/merge-plan.js";

const target = "`p.d.events`";

/** A merge plan for a batch whose stream columns come first, in `columns` order. */
function plan(options: {
  keys: string[];
  columns: string[];
  layout: MergeInput["layout"];
  hardDelete: boolean;
}): MergePlan {
  return planMerge({
    keys: options.keys,
    columns: options.columns.map((name, index) => ({ name, index })),
    metadata: [],
    // Soft deletes need the column; hard deletes do not add it (bigquery-loader.ts).
    tableColumns: [
      ...options.columns,
      ...(options.layout.deletedAt !== undefined && !options.hardDelete ? ["_sdc_deleted_at"] : []),
    ],
    layout: options.layout,
    hardDelete: options.hardDelete,
    addMetadataColumns: false,
    distinctKeys: false,
    caseInsensitive: true,
  });
}
const staging = "`p.d.events__sluice_batch_x`";

describe("the GoogleSQL target-bigquery sends", () => {
  test("a MERGE that keeps one row per key (the newest by _sdc_sequence) before matching", () => {
    expect(
      mergeSql({
        target,
        staging,
        plan: plan({ keys: ["id"], columns: ["id", "name"], layout: {}, hardDelete: false }),
      }),
    ).toBe(
      "MERGE `p.d.events` AS T USING (SELECT `id`, `name` FROM (SELECT `id`, `name`, ROW_NUMBER() OVER (PARTITION BY `id` ORDER BY `_sdc_sequence` DESC) AS _sluice_rank FROM (SELECT `id`, `name`, `_sdc_sequence` FROM `p.d.events__sluice_batch_x`)) WHERE _sluice_rank = 1) AS S ON T.`id` = S.`id` " +
        "WHEN MATCHED THEN UPDATE SET `name` = S.`name` WHEN NOT MATCHED THEN INSERT (`id`, `name`) VALUES (S.`id`, S.`name`)",
    );
  });

  test("a partitioned target: the ON condition names its partitions as constants; a group of them filters the staged rows too", () => {
    const sql = mergeSql({
      target,
      staging,
      plan: plan({ keys: ["id"], columns: ["id", "day"], layout: {}, hardDelete: false }),
      targetFilter: "(T.`day` >= DATE '2024-01-05' AND T.`day` < DATE '2024-01-06')",
      sourceFilter: "(`day` >= DATE '2024-01-05' AND `day` < DATE '2024-01-06')",
    });
    expect(sql).toContain(
      "FROM `p.d.events__sluice_batch_x` WHERE (`day` >= DATE '2024-01-05' AND `day` < DATE '2024-01-06'))",
    );
    expect(sql).toContain(
      "ON T.`id` = S.`id` AND (T.`day` >= DATE '2024-01-05' AND T.`day` < DATE '2024-01-06') WHEN MATCHED",
    );
  });

  test("CDC: fields a change did not carry come from the newest row that carried them, else stay", () => {
    const sql = mergeSql({
      target,
      staging,
      plan: plan({
        keys: ["id"],
        columns: ["id", "body"],
        layout: { deletedAt: 2, sequence: 3, unchanged: 4 },
        hardDelete: false,
      }),
    });
    expect(sql).toContain(
      "STRPOS(CONCAT(',', IFNULL(`_sdc_unchanged`, ''), ','), ',1,') = 0 AS _sluice_has_1",
    );
    expect(sql).toContain(
      "FIRST_VALUE(`body`) OVER (PARTITION BY `id` ORDER BY _sluice_has_1 DESC, `_sdc_sequence` DESC) AS `body`",
    );
    expect(sql).toContain("LOGICAL_OR(_sluice_has_1) OVER (PARTITION BY `id`) AS _sluice_has_1");
    expect(sql).toContain("`body` = IF(S._sluice_has_1, S.`body`, T.`body`)");
    // Soft deletes are merged like any change: the row stays with _sdc_deleted_at set.
    expect(sql).toContain("`_sdc_deleted_at` = S.`_sdc_deleted_at`");
    expect(sql).not.toContain("DELETE");
  });

  test("hard_delete: a deleted key is removed and never inserted", () => {
    const sql = mergeSql({
      target,
      staging,
      plan: plan({
        keys: ["tenant", "id"],
        columns: ["tenant", "id", "v"],
        layout: { deletedAt: 3, sequence: 4 },
        hardDelete: true,
      }),
    });
    expect(sql).toContain("ON T.`tenant` = S.`tenant` AND T.`id` = S.`id`");
    expect(sql).toContain("PARTITION BY `tenant`, `id`");
    expect(sql).toContain("WHEN MATCHED AND S.`_sdc_deleted_at` IS NOT NULL THEN DELETE");
    expect(sql).toContain(
      "WHEN NOT MATCHED AND S.`_sdc_deleted_at` IS NULL THEN INSERT (`tenant`, `id`, `v`)",
    );
  });

  test("schema changes and truncates", () => {
    expect(addColumnSql(target, "note", { type: "STRING", mode: "NULLABLE" })).toBe(
      "ALTER TABLE `p.d.events` ADD COLUMN IF NOT EXISTS `note` STRING",
    );
    // The columns of one evolution in one statement: one table metadata update, not one per column.
    expect(
      addColumnsSql(target, [
        { name: "a", type: { type: "INT64", mode: "NULLABLE" } },
        { name: "b", type: { type: "STRING", mode: "REPEATED" } },
      ]),
    ).toBe(
      "ALTER TABLE `p.d.events` ADD COLUMN IF NOT EXISTS `a` INT64, ADD COLUMN IF NOT EXISTS `b` ARRAY<STRING>",
    );
    expect(
      widenColumnSql(target, "amount", { type: "NUMERIC", mode: "NULLABLE", precision: 21, scale: 2 }),
    ).toBe("ALTER TABLE `p.d.events` ALTER COLUMN `amount` SET DATA TYPE NUMERIC(21, 2)");
    const at = new Date("2024-05-01T10:00:00Z");
    expect(truncateSql(target, { hardDelete: true, deletedAtColumn: "_sdc_deleted_at", at })).toBe(
      "DELETE FROM `p.d.events` WHERE TRUE",
    );
    expect(truncateSql(target, { hardDelete: false, deletedAtColumn: "_sdc_deleted_at", at })).toBe(
      "UPDATE `p.d.events` SET `_sdc_deleted_at` = TIMESTAMP '2024-05-01 10:00:00.000+00:00' WHERE `_sdc_deleted_at` IS NULL",
    );
  });
});
