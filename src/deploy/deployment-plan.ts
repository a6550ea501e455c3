import type { SettingDefinition } from "../connectors/connector.js";
import { findBuiltinPlugin } from "../connectors/registry.js";
import { ConfigError } from "../errors.js";
import { findPlugin } from "../project/plugin-config.js";
import type { PluginEntry, ProjectFile, ScheduleEntry } from "../project/project-file.js";
import { parseSettingValue } from "../project/secret-references.js";
import { envPrefixOf, envVarName } from "../project/setting-values.js";
import { parseInterval } from "./cron.js";
import { scheduleSteps, type PipelineStep } from "./schedule-steps.js";

/**
 * What an orchestrator needs to run one schedule in a container, whatever the orchestrator:
 * the commands, the non-secret variables, the secret variables (by name, never by value) and the
 * credential files to mount. The Airflow and Kubernetes generators render this.
 */
export interface DeploymentPlan {
  schedule: ScheduleEntry;
  /** `sluice_<schedule>`, usable as a DAG id and (lower-cased, dashed) as a Kubernetes name. */
  id: string;
  steps: PipelineStep[];
  /** The interval as the orchestrator reads it (cron text or `@once`). */
  interval: string;
  /** Variables whose values are not secret: the schedule's `env:`, SLUICE_ENVIRONMENT, file paths. */
  env: Record<string, string>;
  /** Variables whose values come from the secrets manager. */
  secretEnv: SecretVariable[];
  /** Files (service account keys, TLS keys) mounted from a Kubernetes Secret. */
  credentialFiles: CredentialFile[];
}

export interface SecretVariable {
  /** The variable the pod sees: `TAP_POSTGRES_PASSWORD`. */
  envVar: string;
  /** The Airflow Variable (backed by the secrets manager) holding it: `sluice_tap_postgres_password`. */
  airflowVariable: string;
  /** The key in the Kubernetes Secret holding it: the variable's name. */
  secretKey: string;
}

export interface CredentialFile {
  /** The setting's variable, set to the mounted file's path: `TARGET_BIGQUERY_CREDENTIALS_PATH`. */
  envVar: string;
  /** The key of the Kubernetes Secret, and the file name under the mount: `target-bigquery-credentials`. */
  secretKey: string;
  /** The Airflow Variable holding the file's content, for `--ephemeral-secret`. */
  airflowVariable: string;
  /** Where the pod reads it: `/var/secrets/sluice/target-bigquery-credentials`. */
  path: string;
}

/** How a pod runs the image, whether Airflow or a CronJob starts it (the `deploy` options). */
export interface PodOptions {
  image: string;
  /** Kubernetes namespace of the pods; default `default` (Cloud Composer 2 runs them in `composer-user-workloads` or `default`). */
  namespace?: string;
  /** The Kubernetes Secret holding secret variables and credential files; default `sluice-credentials`. */
  secretName?: string;
  /** Pods run only on nodes of this pool (GKE's `cloud.google.com/gke-nodepool` label by default). */
  nodePool?: string;
  /** The node label `nodePool` matches; default `cloud.google.com/gke-nodepool`. */
  nodePoolLabel?: string;
  /** Resource requests, Kubernetes quantities (`500m`, `1Gi`). */
  cpu?: string;
  memory?: string;
  /**
   * The Kubernetes service account the pods run as: with GKE Workload Identity it is bound to a
   * Google service account, so the pods reach BigQuery and Secret Manager without a key file.
   */
  serviceAccount?: string;
  /** Retries of a failed run; default 2. */
  retries?: number;
  /** The project file name, for the header. */
  projectFile?: string;
}

export const SECRETS_MOUNT_PATH = "/var/secrets/sluice";
export const DATABASE_URI_VARIABLE = "SLUICE_DATABASE_URI";

/**
 * Settings holding the path of a credential file: they get a mounted file rather than a value.
 * NOTE: tap-postgres's `sslkey` is marked secret but is a path, like target-bigquery's
 * `credentials_path`; both need the file in the pod.
 */
const CREDENTIAL_FILE_SETTING =
  /(^|_)(credentials_path|credentials_file|keyfile|key_file|key_path|sslkey|sslcert|sslrootcert)$/;

export interface PlanOptions {
  /** Prefix of the Airflow Variables holding secrets; default `sluice_`. */
  variablePrefix?: string;
  /** `--environment`, passed to the pod as SLUICE_ENVIRONMENT. */
  environment?: string;
}

export interface PlanResult {
  plans: DeploymentPlan[];
  /** Things worth telling the user (a secret written in the project file, which the image carries). */
  warnings: string[];
}

/** Plans every schedule of the project; a ConfigError when the project has none. */
export function planDeployments(project: ProjectFile, options: PlanOptions = {}): PlanResult {
  if (project.schedules.length === 0) {
    throw new ConfigError(
      "the project file has no `schedules:`; add one, e.g. `schedules: [{name: daily, interval: '0 2 * * *', extractor: tap-postgres, loader: target-duckdb}]`",
    );
  }
  const warnings: string[] = [];
  const plans = project.schedules.map((schedule) => planSchedule(project, schedule, options, warnings));
  const ids = new Map<string, string>();
  for (const plan of plans) {
    const other = ids.get(plan.id);
    if (other !== undefined) {
      throw new ConfigError(
        `schedules "${other}" and "${plan.schedule.name}" both become ${plan.id}; rename one`,
      );
    }
    ids.set(plan.id, plan.schedule.name);
  }
  return { plans, warnings };
}

function planSchedule(
  project: ProjectFile,
  schedule: ScheduleEntry,
  options: PlanOptions,
  warnings: string[],
): DeploymentPlan {
  // Fails early, with the schedule's path, on an interval the orchestrators would reject.
  try {
    parseInterval(schedule.interval);
  } catch (error) {
    throw new ConfigError(`${schedule.location}.interval: ${(error as Error).message}`, { cause: error });
  }
  const { steps } = scheduleSteps(project, schedule);
  const prefix = options.variablePrefix ?? "sluice_";
  // SLUICE_DATABASE_URI → sluice_database_uri, not sluice_sluice_database_uri.
  const variableFor = (envVar: string): string =>
    envVar.toLowerCase().startsWith(prefix) ? envVar.toLowerCase() : `${prefix}${envVar.toLowerCase()}`;
  const env: Record<string, string> = { ...schedule.env };
  if (options.environment !== undefined) env.SLUICE_ENVIRONMENT = options.environment;
  const secretEnv = new Map<string, SecretVariable>();
  const credentialFiles = new Map<string, CredentialFile>();
  const addSecret = (envVar: string): void => {
    if (!secretEnv.has(envVar))
      secretEnv.set(envVar, { envVar, airflowVariable: variableFor(envVar), secretKey: envVar });
  };
  // Where run history and state live: a pod's own disk is gone when it ends.
  addSecret(DATABASE_URI_VARIABLE);
  const pluginNames = [...new Set(steps.flatMap((step) => [step.extractor, step.loader]))];
  for (const name of pluginNames) {
    const { entry, type } = findPlugin(project, name);
    const chain = inheritanceChain(project, entry, type);
    const baseName = chain[0]!.inherit_from ?? chain[0]!.name;
    const settings = settingsOf(baseName, chain);
    const configured = configuredValues(project, chain, type);
    const envPrefix = envPrefixOf(name);
    for (const setting of settings) {
      const value = configured.get(setting.name);
      const settingVar = envVarName(envPrefix, setting.name);
      const where = value ?? setting.default;
      // NOTE: `md:warehouse` (MotherDuck) or `s3://...` is not on the pod's disk; a plain path is.
      if (setting.localPath && typeof where === "string" && !/^[a-z][a-z0-9+.-]+:/i.test(where)) {
        warnings.push(
          `${entry.location}.config.${setting.name}: "${where}" is on the pod's own disk, which is gone when the pod ends (schedule "${schedule.name}"); mount a persistent volume there, or load into a warehouse that outlives the pod`,
        );
      }
      if (CREDENTIAL_FILE_SETTING.test(setting.name)) {
        // Only files the project uses: a mount for every optional TLS file would be noise.
        if (value === undefined && !setting.required) continue;
        const secretKey = `${name}-${setting.name.replace(/_path$/, "").replace(/_/g, "-")}`;
        credentialFiles.set(settingVar, {
          envVar: settingVar,
          secretKey,
          airflowVariable: variableFor(settingVar),
          path: `${SECRETS_MOUNT_PATH}/${secretKey}`,
        });
        env[settingVar] = `${SECRETS_MOUNT_PATH}/${secretKey}`;
        continue;
      }
      const secretReference = typeof value === "string" ? parseSettingValue(value) : undefined;
      if (secretReference?.kind === "reference") {
        // The pod resolves it when the run starts (no variable may override it): `env:NAME` needs NAME.
        if (secretReference.reference.provider === "env") addSecret(secretReference.reference.variable);
        continue;
      }
      if (!setting.secret) continue;
      const reference = typeof value === "string" ? /^\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?$/.exec(value) : null;
      if (reference) {
        // `password: $PG_PASSWORD` in the file: the pod needs PG_PASSWORD.
        addSecret(reference[1]!);
      } else {
        if (value !== undefined) {
          warnings.push(
            `${entry.location}.config.${setting.name}: a secret written in the project file goes into the image; use $${settingVar} instead`,
          );
        }
        addSecret(settingVar);
      }
    }
  }
  return {
    schedule,
    id: `sluice_${schedule.name.replace(/[^A-Za-z0-9_]/g, "_")}`,
    steps,
    interval: schedule.interval,
    env,
    secretEnv: [...secretEnv.values()],
    credentialFiles: [...credentialFiles.values()],
  };
}

function inheritanceChain(
  project: ProjectFile,
  entry: PluginEntry,
  type: "extractor" | "loader",
): PluginEntry[] {
  const list = type === "extractor" ? project.plugins.extractors : project.plugins.loaders;
  const chain = [entry];
  let current = entry;
  while (current.inherit_from !== undefined && current.inherit_from !== current.name) {
    const parent = list.find((plugin) => plugin.name === current.inherit_from);
    if (!parent || chain.includes(parent)) break;
    chain.push(parent);
    current = parent;
  }
  return chain.reverse();
}

/** The built-in's settings, else those an external plugin declares (`sensitive` is secret). */
function settingsOf(baseName: string, chain: readonly PluginEntry[]): readonly SettingDefinition[] {
  const builtin = findBuiltinPlugin(baseName);
  if (builtin) return builtin.settings;
  return chain
    .flatMap((entry) => entry.settings ?? [])
    .map((declared) => ({
      name: declared.name,
      kind: "string" as const,
      description: "",
      ...(declared.sensitive ? { secret: true } : {}),
    }));
}

/** Setting values written in the file for the plugin, in any environment (later layers win). */
function configuredValues(
  project: ProjectFile,
  chain: readonly PluginEntry[],
  type: "extractor" | "loader",
): Map<string, unknown> {
  const values = new Map<string, unknown>();
  for (const entry of chain) {
    for (const [key, value] of Object.entries(entry.config)) values.set(key, value);
    for (const environment of project.environments) {
      const override = environment.config.plugins[type === "extractor" ? "extractors" : "loaders"].find(
        (o) => o.name === entry.name,
      );
      for (const [key, value] of Object.entries(override?.config ?? {})) values.set(key, value);
    }
  }
  return values;
}
