import { BigQuery } from "@google-cloud/bigquery";
import { OAuth2Client } from "google-auth-library";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import {
  startBigQueryEmulator,
  type BigQueryEmulator,
} from "../../../src/emulators/bigquery/bigquery-emulator.js";

let emulator: BigQueryEmulator;
let bq: BigQuery;
beforeAll(async () => {
  emulator = await startBigQueryEmulator({ projectId: "proj" });
  bq = new BigQuery({
    projectId: "proj",
    apiEndpoint: emulator.url,
    authClient: new OAuth2Client({ credentials: { access_token: "emulator" } }),
  });
});
afterAll(async () => emulator.close());

test("smoke", async () => {
  const t0 = Date.now();
  const [dataset] = await bq.createDataset("ds1", { location: "US" });
  console.log("createDataset ms", Date.now() - t0);
  const [table] = await dataset.createTable("t1", {
    schema: {
      fields: [
        { name: "id", type: "INT64", mode: "REQUIRED" },
        { name: "n", type: "NUMERIC" },
        { name: "ts", type: "TIMESTAMP" },
        { name: "tags", type: "STRING", mode: "REPEATED" },
        { name: "b", type: "BYTES" },
        { name: "j", type: "JSON" },
      ],
    },
  });
  const file = path.join(os.tmpdir(), "smoke.json");
  fs.writeFileSync(
    file,
    '{"id": 1, "n": "12.5", "ts": "2024-01-31 10:00:00.123456+00:00", "tags": ["a","b"], "b": "qg==", "j": {"a": [1, 2]}}\n{"id": 2}\n',
  );
  const [job] = await table.load(file, { sourceFormat: "NEWLINE_DELIMITED_JSON" });
  console.log(JSON.stringify(job.status), JSON.stringify(job.statistics));
  const [rows] = await bq.query("SELECT * FROM `proj.ds1.t1` ORDER BY id");
  console.log(rows);
  const [rows2] = await table.getRows();
  console.log(rows2);
  console.log(emulator.requests);
  expect(rows.length).toBe(2);
});
