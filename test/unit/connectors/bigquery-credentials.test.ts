import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, expect, test } from "vitest";
import { builtinIdentity } from "../../../src/connectors/plugin-identity.js";
import { missingCredentialsError } from "../../../src/connectors/target-bigquery/bigquery-credentials.js";

const folders: string[] = [];
afterEach(() => {
  for (const folder of folders.splice(0)) fs.rmSync(folder, { recursive: true, force: true });
});

function emptyHome(): string {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-adc-"));
  folders.push(home);
  return home;
}

const plugin = { name: "target-bigquery-prod", envPrefixes: ["TARGET_BIGQUERY_PROD", "TARGET_BIGQUERY"] };

test("no key file, no gcloud login, off Google Cloud: a ConfigError naming the plugin's variables first", async () => {
  const home = emptyHome();
  const error = await missingCredentialsError(plugin, { HOME: home, METADATA_SERVER_DETECTION: "none" });
  expect(error?.exitCode).toBe(2);
  expect(error?.message).toContain(
    "target-bigquery-prod: no Google Cloud credentials: set `credentials_path` (TARGET_BIGQUERY_PROD_CREDENTIALS_PATH or TARGET_BIGQUERY_CREDENTIALS_PATH) or GOOGLE_APPLICATION_CREDENTIALS",
  );
});

test("application default credentials from gcloud (in ~/.config/gcloud or CLOUDSDK_CONFIG) are credentials", async () => {
  const home = emptyHome();
  const file = path.join(home, ".config", "gcloud", "application_default_credentials.json");
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, "{}");
  const identity = builtinIdentity("target-bigquery");
  expect(await missingCredentialsError(identity, { HOME: home, METADATA_SERVER_DETECTION: "none" })).toBe(
    undefined,
  );
  const elsewhere = emptyHome();
  expect(
    await missingCredentialsError(identity, {
      HOME: elsewhere,
      CLOUDSDK_CONFIG: path.dirname(file),
      METADATA_SERVER_DETECTION: "none",
    }),
  ).toBe(undefined);
});

test("a metadata server said to be there (METADATA_SERVER_DETECTION, GCE_METADATA_HOST) is left to the client", async () => {
  const home = emptyHome();
  const identity = builtinIdentity("target-bigquery");
  expect(
    await missingCredentialsError(identity, { HOME: home, METADATA_SERVER_DETECTION: "assume-present" }),
  ).toBe(undefined);
  expect(await missingCredentialsError(identity, { HOME: home, GCE_METADATA_HOST: "169.254.169.254" })).toBe(
    undefined,
  );
});
