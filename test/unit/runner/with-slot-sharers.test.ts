import { describe, expect, test } from "vitest";
import type { ReplicationMethod, StreamPlan } from "../../../src/connectors/connector.js";
import { withSlotSharers } from "../../../src/runner/with-slot-sharers.js";

function plan(streamId: string, replicationMethod: ReplicationMethod): StreamPlan {
  const [sourceSchema, sourceTable] = streamId.split("-") as [string, string];
  return {
    schema: { streamId, sourceSchema, sourceTable, columns: [], keyProperties: ["id"] },
    replicationMethod,
  };
}

const ids = (plans: StreamPlan[]): string[] => plans.map((p) => p.schema.streamId);
const atPosition = { lsn: 1000, last_replication_method: "LOG_BASED" };

describe("a --select run and the LOG_BASED streams it left out", () => {
  test("those holding a position are read too, with a warning naming them", () => {
    const result = withSlotSharers(
      [plan("public-orders", "LOG_BASED"), plan("public-users", "FULL_TABLE")],
      [plan("public-refunds", "LOG_BASED"), plan("public-notes", "LOG_BASED")],
      { bookmarks: { "public-refunds": atPosition, "public-notes": { version: 1 } } },
    );
    // public-notes has no position yet: it has no changes to lose (its first run copies it).
    expect(ids(result.plans)).toEqual(["public-orders", "public-users", "public-refunds"]);
    expect(result.warning).toMatch(/^--select: also reading the changes of public-refunds: /);
    expect(result.warning).toContain("--state-id");
  });

  test("a run without LOG_BASED streams reads no slot, so it takes nothing more", () => {
    const result = withSlotSharers(
      [plan("public-users", "FULL_TABLE")],
      [plan("public-refunds", "LOG_BASED")],
      {
        bookmarks: { "public-refunds": atPosition },
      },
    );
    expect(ids(result.plans)).toEqual(["public-users"]);
    expect(result.warning).toBeUndefined();
  });

  test("a new pipeline (no state) or a selection that names them all adds nothing", () => {
    expect(
      withSlotSharers([plan("public-orders", "LOG_BASED")], [plan("public-refunds", "LOG_BASED")], undefined),
    ).toEqual({ plans: [plan("public-orders", "LOG_BASED")] });
    expect(
      withSlotSharers([plan("public-orders", "LOG_BASED")], [], {
        bookmarks: { "public-orders": atPosition },
      }),
    ).toEqual({ plans: [plan("public-orders", "LOG_BASED")] });
  });
});
