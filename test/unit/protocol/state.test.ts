import { describe, expect, test } from "vitest";
import { advanceLogPosition, type SingerState } from "../../../src/protocol/state.js";

describe("a change-data checkpoint in the state", () => {
  test("moves every LOG_BASED stream's lsn forward, never back, keeping its other fields", () => {
    const state: SingerState = {
      bookmarks: {
        "public-a": { lsn: 100, version: 7 },
        // Copied later than the others: it starts further on.
        "public-b": { lsn: "500" },
        "public-other": { replication_key_value: 3 },
      },
    };
    advanceLogPosition(state, ["public-a", "public-b", "public-new"], "300");
    expect(state.bookmarks).toEqual({
      "public-a": { lsn: 300, version: 7, last_replication_method: "LOG_BASED" },
      "public-b": { lsn: 500, last_replication_method: "LOG_BASED" },
      "public-new": { lsn: 300, last_replication_method: "LOG_BASED" },
      "public-other": { replication_key_value: 3 },
    });
  });
});
