import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, test } from "vitest";
import { readKeyFile } from "../../../src/connectors/target-bigquery/bigquery-client.js";
import { resolveBigqueryConfig } from "../../../src/connectors/target-bigquery/bigquery-config.js";
import { ConfigError } from "../../../src/errors.js";

const projectDir = "/srv/project";
const resolve = (config: Record<string, unknown>, env: NodeJS.ProcessEnv = {}) =>
  resolveBigqueryConfig({ project_id: "p", dataset_id: "d", ...config }, { projectDir, env });

describe("target-bigquery settings", () => {
  test("adswerve's replication_method maps onto load_method; upsert by default", () => {
    expect(resolve({}).loadMethod).toBe("upsert");
    expect(resolve({ replication_method: "append" }).loadMethod).toBe("append-only");
    expect(resolve({ replication_method: "truncate" }).loadMethod).toBe("overwrite");
    expect(resolve({ replication_method: "incremental" }).loadMethod).toBe("upsert");
    expect(resolve({ load_method: "overwrite" }).loadMethod).toBe("overwrite");
    expect(() => resolve({ replication_method: "append", load_method: "upsert" })).toThrow(
      /load_method: "upsert" contradicts replication_method "append"/,
    );
  });

  test("default_target_schema names the dataset; an illegal dataset id is a ConfigError", () => {
    expect(
      resolveBigqueryConfig({ project_id: "p", default_target_schema: "raw" }, { projectDir, env: {} })
        .datasetId,
    ).toBe("raw");
    expect(() => resolve({ dataset_id: "orders-raw" })).toThrow(ConfigError);
    expect(() => resolveBigqueryConfig({ dataset_id: "d" }, { projectDir, env: {} })).toThrow(
      /project_id: required/,
    );
  });

  test("credentials: credentials_path (from the project folder), else GOOGLE_APPLICATION_CREDENTIALS, else ADC", () => {
    expect(
      resolve({ credentials_path: "keys/sa.json" }, { GOOGLE_APPLICATION_CREDENTIALS: "/x.json" }),
    ).toMatchObject({
      credentialsFile: "/srv/project/keys/sa.json",
      credentialsSource: "credentials_path",
    });
    expect(resolve({}, { GOOGLE_APPLICATION_CREDENTIALS: "/x.json" })).toMatchObject({
      credentialsFile: "/x.json",
      credentialsSource: "GOOGLE_APPLICATION_CREDENTIALS",
    });
    expect(resolve({}).credentialsFile).toBeUndefined();
  });

  test("api_endpoint, else BIGQUERY_EMULATOR_HOST (scheme added when missing)", () => {
    expect(resolve({ api_endpoint: "http://localhost:9050/" }).apiEndpoint).toBe("http://localhost:9050");
    expect(resolve({}, { BIGQUERY_EMULATOR_HOST: "localhost:9050" }).apiEndpoint).toBe(
      "http://localhost:9050",
    );
    expect(resolve({}).apiEndpoint).toBeUndefined();
  });

  test("cdc_method is storage_write by default; max_staleness (15m by default, 0 none) and merge_interval (5m, 0 each batch) are durations; maximum_bytes_billed a positive integer", () => {
    expect(resolve({})).toMatchObject({ cdcMethod: "storage_write", maxStalenessSeconds: 900 });
    expect(
      resolve({ cdc_method: "merge", max_staleness: "1h", maximum_bytes_billed: 10_000_000 }),
    ).toMatchObject({ cdcMethod: "merge", maxStalenessSeconds: 3600, maximumBytesBilled: 10_000_000 });
    expect(resolve({ max_staleness: "0" }).maxStalenessSeconds).toBe(0);
    expect(resolve({}).mergeIntervalSeconds).toBe(300);
    expect(resolve({ merge_interval: "0" }).mergeIntervalSeconds).toBe(0);
    expect(() => resolve({ merge_interval: "often" })).toThrow(/merge_interval: expected a duration/);
    expect(resolve({ max_staleness: "30s", storage_write_endpoint: "localhost:9060" })).toMatchObject({
      maxStalenessSeconds: 30,
      storageWriteEndpoint: "localhost:9060",
    });
    expect(() => resolve({ cdc_method: "streaming" })).toThrow(/cdc_method: expected storage_write or merge/);
    expect(() => resolve({ max_staleness: "quarter hour" })).toThrow(/max_staleness: expected a duration/);
    expect(() => resolve({ maximum_bytes_billed: -1 })).toThrow(/maximum_bytes_billed: expected a positive/);
    expect(() => resolve({ storage_write_endpoint: "http://x" })).toThrow(
      /storage_write_endpoint: expected host:port/,
    );
  });

  test("max_cache is in MB; table_config is checked per stream", () => {
    expect(resolve({ max_cache: 5 }).maxCacheBytes).toBe(5 * 1024 * 1024);
    expect(
      resolve({
        table_config: {
          streams: {
            "public-events": {
              partition_field: "created_at",
              partition_type: "month",
              cluster_fields: "a, b",
            },
          },
        },
      }).tableConfig,
    ).toEqual({
      "public-events": { partitionField: "created_at", partitionType: "MONTH", clusterFields: ["a", "b"] },
    });
    const bad = () => resolve({ table_config: { events: { partition_type: "WEEK", cluster: ["a"] } } });
    expect(bad).toThrow(/table_config.events.partition_type: expected DAY, HOUR, MONTH or YEAR, got WEEK/);
    expect(bad).toThrow(/table_config.events.cluster: unknown/);
    expect(resolve({ table_config: { events: { prune_merges: false } } }).tableConfig).toEqual({
      events: { pruneMerges: false },
    });
    expect(() => resolve({ table_config: { events: { prune_merges: "no" } } })).toThrow(
      /table_config.events.prune_merges: expected true or false/,
    );
  });

  test("a missing or malformed key file is a ConfigError naming the setting", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-bq-"));
    expect(() => readKeyFile(path.join(dir, "missing.json"), "credentials_path")).toThrow(
      /credentials_path: cannot read the credentials file .*missing.json: ENOENT/,
    );
    fs.writeFileSync(path.join(dir, "bad.json"), "not json");
    expect(() => readKeyFile(path.join(dir, "bad.json"), "credentials_path")).toThrow(
      /credentials_path: .*bad.json is not a JSON key file/,
    );
    fs.writeFileSync(path.join(dir, "partial.json"), JSON.stringify({ type: "service_account" }));
    expect(() => readKeyFile(path.join(dir, "partial.json"), "credentials_path")).toThrow(
      /service-account key without client_email or private_key/,
    );
    fs.rmSync(dir, { recursive: true });
  });
});
