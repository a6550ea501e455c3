import { describe, expect, test } from "vitest";
import { PostgresExtractor } from "../../../src/connectors/tap-postgres/postgres-extractor.js";
import {
  pipelineSlotName,
  publicationNameFor,
  slotNameFor,
  slotNameProblem,
  temporarySlotName,
} from "../../../src/connectors/tap-postgres/cdc/replication-slot-name.js";

const settings = { dbname: "Shop-DB", tap_id: "eu" };
const bytes = (name: string): number => Buffer.byteLength(name);

describe("which slot a pipeline reads", () => {
  const positions = { "public-orders": { lsn: 1234, last_replication_method: "LOG_BASED" } };

  test("a new state gets the pipeline's own slot, named after the database and state id", () => {
    expect(slotNameFor(settings, { stateId: "dev:tap-postgres-to-target-duckdb" })).toEqual({
      name: expect.stringMatching(/^sluice_shop_db_dev_tap_postgres_to_target_duckdb_[0-9a-f]{8}$/),
      rule: "pipeline",
    });
    // Bookmarks without a position (FULL_TABLE, INCREMENTAL) tie it to no slot.
    expect(slotNameFor(settings, { stateId: "dev:x", bookmarks: { "public-a": { version: 1 } } }).rule).toBe(
      "pipeline",
    );
  });

  test("the user's name wins, then the slot the state recorded, then pipelinewise's for positions without one", () => {
    const owner = { stateId: "dev:a-to-b", recordedSlot: "recorded_slot", bookmarks: positions };
    expect(slotNameFor({ ...settings, logical_slot_name: "mine" }, owner)).toEqual({
      name: "mine",
      rule: "setting",
    });
    expect(slotNameFor(settings, owner)).toEqual({ name: "recorded_slot", rule: "recorded" });
    expect(slotNameFor(settings, { stateId: "dev:a-to-b", bookmarks: positions })).toEqual({
      name: "pipelinewise_shop_db_eu",
      rule: "pipelinewise",
    });
    // No pipeline at all (`sluice tap` without --state-id): pipelinewise's name, as that tap reads.
    expect(slotNameFor({ dbname: "shop" })).toEqual({ name: "pipelinewise_shop", rule: "pipelinewise" });
  });

  test("state ids that read the same once cleaned, or once cut, still get slots of their own", () => {
    expect(pipelineSlotName("shop", "dev:a-to-b")).not.toBe(pipelineSlotName("shop", "dev_a_to_b"));
    expect(pipelineSlotName("shop", "Dev:a-to-b")).not.toBe(pipelineSlotName("shop", "dev:a-to-b"));
    const long = "prod:" + "x".repeat(80);
    expect(pipelineSlotName("shop", `${long}-to-a`)).not.toBe(pipelineSlotName("shop", `${long}-to-b`));
    // The same pipeline name in two databases of one server (slot names are server-wide).
    expect(pipelineSlotName("shop", "dev:a-to-b")).not.toBe(pipelineSlotName("shop2", "dev:a-to-b"));
    // Stable: the same state id is the same slot on every run.
    expect(pipelineSlotName("shop", "dev:a-to-b")).toBe(pipelineSlotName("shop", "dev:a-to-b"));
  });

  test("every name fits PostgreSQL's 63 bytes and is one PostgreSQL takes", () => {
    const dbname = "d".repeat(63);
    const stateId = `prod:${"é".repeat(100)}-to-target-bigquery`;
    const slot = pipelineSlotName(dbname, stateId);
    expect(slotNameProblem(slot)).toBeUndefined();
    expect(bytes(slot)).toBeLessThanOrEqual(59);
    const publication = publicationNameFor({}, slot);
    expect(publication).toEqual({ name: `${slot}_pub`, managed: true });
    expect(bytes(temporarySlotName(slot, 4194304))).toBeLessThanOrEqual(63);
    expect(temporarySlotName(slot, 4194304)).toMatch(/_copy_4194304$/);
    // pipelinewise's rule on a long database name, and a user's 63-byte name with its suffixes.
    const legacy = slotNameFor({ dbname, tap_id: "t".repeat(20) }).name;
    expect(bytes(legacy)).toBeLessThanOrEqual(63);
    expect(slotNameProblem(legacy)).toBeUndefined();
    const mine = "m".repeat(63);
    expect(bytes(publicationNameFor({}, mine).name)).toBe(63);
    expect(publicationNameFor({}, mine).name).not.toBe(publicationNameFor({}, "m".repeat(62) + "n").name);
    expect(bytes(temporarySlotName(mine, 123))).toBeLessThanOrEqual(63);
    // Short names keep their plain suffixes.
    expect(publicationNameFor({}, "pipelinewise_shop").name).toBe("pipelinewise_shop_pub");
    expect(temporarySlotName("pipelinewise_shop", 42)).toBe("pipelinewise_shop_copy_42");
    expect(publicationNameFor({ logical_publication: "theirs" }, "x")).toEqual({
      name: "theirs",
      managed: false,
    });
  });

  test("a logical_slot_name PostgreSQL would refuse is said so", () => {
    expect(slotNameProblem("My-Slot")).toMatch(/only lowercase letters, digits and _/);
    expect(slotNameProblem("s".repeat(64))).toMatch(/64 bytes; PostgreSQL's names are at most 63/);
    expect(slotNameProblem("ok_slot_1")).toBeUndefined();
  });
});

test("tap-postgres refuses a logical_slot_name PostgreSQL would refuse, naming the setting", () => {
  expect(
    () =>
      new PostgresExtractor({
        host: "localhost",
        user: "u",
        dbname: "shop",
        logical_slot_name: "Orders-Slot",
      }),
  ).toThrow(/tap-postgres: setting `logical_slot_name`: "Orders-Slot" is not a valid replication slot name/);
});
