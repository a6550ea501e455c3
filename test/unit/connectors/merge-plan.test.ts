import { describe, expect, test } from "vitest";
import {
  planMerge,
  trackedColumns,
  type MergeInput,
} from "../../../src/connectors/loader-core/merge-plan.js";
import { parseLoaderSettings } from "../../../src/connectors/loader-core/loader-settings.js";
import { ConfigError } from "../../../src/errors.js";

// The change-data rules as a plan, without an engine: what every loader renders (merge-plan.ts).

const STREAM = [
  { name: "id", index: 0 },
  { name: "name", index: 1 },
  { name: "doc", index: 2 },
];

function input(overrides: Partial<MergeInput> = {}): MergeInput {
  return {
    keys: ["id"],
    columns: STREAM,
    metadata: [],
    tableColumns: ["id", "name", "doc"],
    layout: {},
    hardDelete: false,
    addMetadataColumns: false,
    distinctKeys: false,
    ...overrides,
  };
}

describe("the merge plan", () => {
  test("a plain batch: every field carried, keys apart, nothing kept, reduced unless keys are distinct", () => {
    const plan = planMerge(input());
    expect(plan).toMatchObject({
      keys: ["id"],
      values: [{ name: "name" }, { name: "doc" }],
      kept: [],
      deletes: false,
      hardDelete: false,
      writesDeletedAt: false,
      writesSequence: false,
      reduces: true,
    });
    expect(trackedColumns(plan)).toEqual([]);
    expect(planMerge(input({ distinctKeys: true })).reduces).toBe(false);
  });

  test("a change batch tracks every non-key stream column by its batch position, never metadata", () => {
    const plan = planMerge(
      input({
        columns: [
          { name: "doc", index: 0 },
          { name: "id", index: 1 },
          { name: "name", index: 2 },
        ],
        metadata: ["_sdc_extracted_at"],
        layout: { deletedAt: 3, sequence: 4, unchanged: 5 },
        distinctKeys: true,
      }),
    );
    expect(plan.values).toEqual([
      { name: "doc", tracked: 0 },
      { name: "name", tracked: 2 },
      { name: "_sdc_extracted_at" },
    ]);
    // Changes repeat keys whatever the run says.
    expect(plan.reduces).toBe(true);
    expect(plan.deletes).toBe(true);
  });

  test("hard_delete applies only to a batch that carries deletes", () => {
    expect(planMerge(input({ hardDelete: true })).hardDelete).toBe(false);
    expect(planMerge(input({ hardDelete: true, layout: { deletedAt: 3 } })).hardDelete).toBe(true);
  });

  test("_sdc_deleted_at is written whenever the table has it, so a re-inserted key is live again", () => {
    const plan = planMerge(input({ tableColumns: ["id", "name", "doc", "_sdc_deleted_at"] }));
    expect(plan.deletes).toBe(false);
    expect(plan.writesDeletedAt).toBe(true);
    expect(plan.kept).toEqual([]);
  });

  test("columns the batch says nothing about are kept, _sdc_sequence only when it is not metadata", () => {
    const table = ["id", "name", "doc", "dropped_at_source", "_sdc_sequence"];
    expect(planMerge(input({ tableColumns: table })).kept).toEqual(["dropped_at_source", "_sdc_sequence"]);
    const withMetadata = planMerge(input({ tableColumns: table, addMetadataColumns: true }));
    expect(withMetadata.kept).toEqual(["dropped_at_source"]);
    expect(withMetadata.writesSequence).toBe(true);
  });

  test("case-insensitive warehouses match names regardless of case", () => {
    const plan = planMerge(
      input({ keys: ["ID"], tableColumns: ["id", "NAME", "doc", "Extra"], caseInsensitive: true }),
    );
    expect(plan.values.map((c) => c.name)).toEqual(["name", "doc"]);
    expect(plan.kept).toEqual(["Extra"]);
    expect(planMerge(input({ tableColumns: ["id", "NAME", "doc"] })).kept).toEqual(["NAME"]);
  });
});

describe("the settings every loader shares", () => {
  test("defaults, and a value of the wrong kind names the plugin and the setting", () => {
    expect(parseLoaderSettings("target-x", {})).toEqual({
      tablePrefix: "",
      addMetadataColumns: false,
      loadMethod: "upsert",
      hardDelete: false,
      existingTables: "continue",
    });
    expect(parseLoaderSettings("target-x", { existing_tables: "rebuild" }).existingTables).toBe("rebuild");
    expect(() => parseLoaderSettings("target-x", { existing_tables: "convert" })).toThrow(
      /target-x: setting `existing_tables`/,
    );
    expect(() => parseLoaderSettings("target-x", { load_method: "merge", hard_delete: "yes" })).toThrow(
      ConfigError,
    );
    try {
      parseLoaderSettings("target-x", { load_method: "merge", hard_delete: "yes" });
    } catch (error) {
      expect((error as ConfigError).problems).toEqual([
        expect.stringMatching(/^target-x: setting `load_method`: /),
        expect.stringMatching(/^target-x: setting `hard_delete`: /),
      ]);
    }
  });
});
