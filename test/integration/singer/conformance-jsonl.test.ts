import fs from "node:fs";
import path from "node:path";
import { describe } from "vitest";
import { JsonlLoader } from "../../../src/connectors/target-jsonl/jsonl-loader.js";
import { parseExactJson, toPlain } from "../../../src/protocol/exact-json.js";
import { runConformanceSuite, type ConformanceRow } from "../../support/singer-conformance.js";

describe("Singer conformance: target-jsonl", () => {
  runConformanceSuite(
    ({ dir }) =>
      new JsonlLoader(
        { destination_path: "out", do_timestamp_file: false, add_metadata_columns: false },
        { projectDir: dir },
      ),
    async (table, { dir }) => {
      const file = path.join(dir, "out", `${table.stream.replace(/[/\\\0]/g, "_")}.jsonl`);
      if (!fs.existsSync(file)) return undefined;
      // The file is a log: replaying it (the last line of a key wins, a truncate drops what came
      // before) gives the table.
      const rows: ConformanceRow[] = [];
      const byKey = new Map<string, number>();
      for (const line of fs.readFileSync(file, "utf8").split("\n")) {
        if (!line) continue;
        // Exactly: an integer beyond 2^53 or a long decimal must not be rounded by the reading.
        const row = toPlain(parseExactJson(line), { keepDigits: true }) as ConformanceRow;
        if ("_sdc_truncated_at" in row) {
          rows.length = 0;
          byKey.clear();
          continue;
        }
        if (table.keyProperties.length === 0) {
          rows.push(row);
          continue;
        }
        const key = JSON.stringify(table.keyProperties.map((k) => row[k] ?? null));
        const at = byKey.get(key);
        if (at === undefined) {
          byKey.set(key, rows.length);
          rows.push(row);
        } else rows[at] = row;
      }
      return rows;
    },
    {
      jsonAsText: false,
      cli: {
        loader: "target-jsonl",
        config: () => ({ destination_path: "out", do_timestamp_file: false, add_metadata_columns: false }),
      },
    },
  );
});
