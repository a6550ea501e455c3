import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ConfigError } from "../../errors.js";
import { describeSetting, type PluginIdentity } from "../plugin-identity.js";

/**
 * Where `gcloud auth application-default login` leaves application default credentials, as
 * google-auth-library looks for them: $CLOUDSDK_CONFIG, else %APPDATA%\gcloud on Windows, else
 * ~/.config/gcloud.
 */
export function applicationDefaultCredentialsFile(env: NodeJS.ProcessEnv): string {
  const folder =
    env.CLOUDSDK_CONFIG ||
    (process.platform === "win32" && env.APPDATA
      ? path.join(env.APPDATA, "gcloud")
      : path.join(env.HOME || os.homedir(), ".config", "gcloud"));
  return path.join(folder, "application_default_credentials.json");
}

/**
 * Whether Google's metadata server can give this process credentials, decided without asking
 * it. NOTE: google-auth-library, finding no key file, asks the metadata server; off Google Cloud
 * that took 17 s here and printed a MetadataLookupWarning before the 401 it ends in. Its own
 * switches are honoured: METADATA_SERVER_DETECTION (assume-present, ping-only: yes; none: no;
 * bios-only: what the machine says) and GCE_METADATA_HOST/GCE_METADATA_IP (a metadata server
 * elsewhere: yes). Otherwise the machine says: Cloud Run and Cloud Functions variables, a Google
 * BIOS, a GCE MAC address (gcp-metadata's `getGCPResidency`, which reads no network).
 */
async function metadataServerExpected(env: NodeJS.ProcessEnv): Promise<boolean> {
  const detection = env.METADATA_SERVER_DETECTION?.trim().toLowerCase();
  if (detection === "assume-present" || detection === "ping-only") return true;
  if (detection === "none") return false;
  if (env.GCE_METADATA_HOST || env.GCE_METADATA_IP) return true;
  const { gcpMetadata } = await import("google-auth-library");
  return gcpMetadata.getGCPResidency();
}

/**
 * A ConfigError when target-bigquery has no credentials at all: no key file (`credentials_path`,
 * GOOGLE_APPLICATION_CREDENTIALS), no application default credentials file, and not on Google
 * Cloud. Undefined when it has some; whether they are good, BigQuery says (a 401 or 403).
 * Checked before the first request, so that `sluice test target-bigquery` says so at once.
 */
export async function missingCredentialsError(
  plugin: PluginIdentity,
  env: NodeJS.ProcessEnv,
): Promise<ConfigError | undefined> {
  const adc = applicationDefaultCredentialsFile(env);
  if (fs.existsSync(adc)) return undefined;
  if (await metadataServerExpected(env)) return undefined;
  return new ConfigError(
    `${plugin.name}: no Google Cloud credentials: set ${describeSetting(plugin, "credentials_path")} or GOOGLE_APPLICATION_CREDENTIALS to a service-account key file, or run \`gcloud auth application-default login\` (there is no ${adc}). This machine does not look like Google Cloud, whose metadata server would give credentials; if it is, set METADATA_SERVER_DETECTION=assume-present.`,
  );
}
