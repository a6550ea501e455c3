import { stringify } from "yaml";
import { ConfigError, EXIT_TEMPFAIL } from "../errors.js";
import { kubernetesName } from "./airflow-dag.js";
import { DEFAULT_SECRET_NAME } from "./pod-options.js";
import { stepBlocks } from "./schedule-steps.js";
import { SECRETS_MOUNT_PATH, type DeploymentPlan, type PodOptions } from "./deployment-plan.js";
import { GENERATED_MARKER, type GeneratedFile } from "./generated-files.js";

/** The CLI's `deploy kubernetes` options; `retries` becomes the Job's backoffLimit. */
export type KubernetesOptions = PodOptions;

/** The container's name in the pod, which the pod failure policy's exit codes refer to. */
const CONTAINER_NAME = "sluice";

/**
 * sluice exits 75 (EX_TEMPFAIL) when a retry can help (a server restarting, a lost connection,
 * after its own retries within the run); 1 and 2 say it cannot until someone changes something.
 * Rules apply in order, the first that matches wins:
 * 1. A pod disrupted (evicted, preempted, its node drained) did not fail on its own: a new pod
 *    runs, without counting against `backoffLimit` (its container may show any exit code, 137 say).
 * 2. Any exit code but 75 fails the Job at once: no retry.
 * Otherwise (75, or a pod that never ran its container: an image that could not be pulled) the
 * Job's default applies: a new pod, counted against `backoffLimit`.
 * NOTE: a pod failure policy needs `restartPolicy: Never`, which the pod has; Kubernetes 1.26+
 * (beta, on by default; GA in 1.31).
 */
const RETRY_ONLY_TRANSIENT_FAILURES = {
  rules: [
    { action: "Ignore", onPodConditions: [{ type: "DisruptionTarget", status: "True" }] },
    {
      action: "FailJob",
      onExitCodes: { containerName: CONTAINER_NAME, operator: "NotIn", values: [EXIT_TEMPFAIL] },
    },
  ],
};

/** The image's user (`node`, uid 1000 in node:20-bookworm-slim): the pod must not run as root. */
export const IMAGE_USER_ID = 1000;

/** Kubernetes' own cron macros; `@once` is not one of them and becomes a Job. */
const KUBERNETES_MACROS = new Set([
  "@yearly",
  "@annually",
  "@monthly",
  "@weekly",
  "@daily",
  "@midnight",
  "@hourly",
]);

/**
 * One manifest per schedule: a `batch/v1` CronJob (a Job for `@once`). Runs never overlap
 * (`concurrencyPolicy: Forbid`), a missed run is started at most once (`startingDeadlineSeconds`),
 * secrets are `secretKeyRef`s, credential files a read-only Secret volume, and the pod runs as the
 * image's non-root user. A failed pod is retried (up to `backoffLimit`) only when sluice exited
 * 75 or the pod was disrupted (see `RETRY_ONLY_TRANSIENT_FAILURES`).
 */
export function kubernetesManifestFile(plan: DeploymentPlan, options: KubernetesOptions): GeneratedFile {
  const manifest = kubernetesManifest(plan, options);
  const header = [
    `# ${GENERATED_MARKER} kubernetes from ${options.projectFile ?? "the project file"}, schedule "${plan.schedule.name}".`,
    "# Do not edit: change the project file and run `sluice deploy kubernetes` again (it overwrites",
    "# only files with this header). Create the Secret it reads first, e.g.",
    `#   kubectl create secret generic ${options.secretName ?? DEFAULT_SECRET_NAME} --from-literal=SLUICE_DATABASE_URI=...`,
  ];
  return {
    name: `${kubernetesName(plan.id.replace(/_/g, "-"))}.yaml`,
    content: `${header.join("\n")}\n${stringify(manifest, { lineWidth: 0, aliasDuplicateObjects: false })}`,
  };
}

export function kubernetesManifest(
  plan: DeploymentPlan,
  options: KubernetesOptions,
): Record<string, unknown> {
  const secretName = options.secretName ?? DEFAULT_SECRET_NAME;
  const name = kubernetesName(`sluice-${plan.schedule.name}`);
  const labels = {
    "app.kubernetes.io/name": "sluice",
    "app.kubernetes.io/managed-by": "sluice",
    "app.kubernetes.io/instance": name,
  };
  const step = plan.steps.length === 1 ? plan.steps[0]! : undefined;
  const args = [
    "--log-format",
    "json",
    ...(step ? ["run", ...stepBlocks(step)] : ["schedule", "run", plan.schedule.name]),
  ];
  const env: Record<string, unknown>[] = [
    ...Object.entries(plan.env).map(([envName, value]) => ({ name: envName, value })),
    ...plan.secretEnv.map((secret) => ({
      name: secret.envVar,
      valueFrom: { secretKeyRef: { name: secretName, key: secret.secretKey } },
    })),
  ];
  const requests: Record<string, string> = {};
  if (options.cpu !== undefined) requests.cpu = options.cpu;
  if (options.memory !== undefined) requests.memory = options.memory;
  const container: Record<string, unknown> = {
    name: CONTAINER_NAME,
    image: options.image,
    args,
    env,
    ...(Object.keys(requests).length > 0 ? { resources: { requests } } : {}),
    securityContext: {
      allowPrivilegeEscalation: false,
      capabilities: { drop: ["ALL"] },
    },
  };
  const podSpec: Record<string, unknown> = {
    restartPolicy: "Never",
    securityContext: {
      runAsNonRoot: true,
      runAsUser: IMAGE_USER_ID,
      runAsGroup: IMAGE_USER_ID,
      fsGroup: IMAGE_USER_ID,
      seccompProfile: { type: "RuntimeDefault" },
    },
    containers: [container],
    ...(options.serviceAccount !== undefined ? { serviceAccountName: options.serviceAccount } : {}),
  };
  if (plan.credentialFiles.length > 0) {
    container.volumeMounts = [{ name: "credentials", mountPath: SECRETS_MOUNT_PATH, readOnly: true }];
    podSpec.volumes = [
      {
        name: "credentials",
        secret: {
          secretName,
          items: plan.credentialFiles.map((file) => ({ key: file.secretKey, path: file.secretKey })),
        },
      },
    ];
  }
  if (options.nodePool !== undefined) {
    podSpec.affinity = {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [
            {
              matchExpressions: [
                {
                  key: options.nodePoolLabel ?? "cloud.google.com/gke-nodepool",
                  operator: "In",
                  values: [options.nodePool],
                },
              ],
            },
          ],
        },
      },
    };
  }
  const metadata = {
    name,
    ...(options.namespace !== undefined ? { namespace: options.namespace } : {}),
    labels,
  };
  const jobSpec = {
    backoffLimit: options.retries ?? 2,
    podFailurePolicy: RETRY_ONLY_TRANSIENT_FAILURES,
    template: { metadata: { labels }, spec: podSpec },
  };
  if (plan.interval.toLowerCase() === "@once") {
    return { apiVersion: "batch/v1", kind: "Job", metadata, spec: jobSpec };
  }
  const interval = plan.interval.trim();
  if (interval.split(/\s+/).length === 6) {
    throw new ConfigError(
      `${plan.schedule.location}.interval: Kubernetes CronJobs have no seconds field; use 5 fields (${interval})`,
    );
  }
  return {
    apiVersion: "batch/v1",
    kind: "CronJob",
    metadata,
    spec: {
      schedule: KUBERNETES_MACROS.has(interval.toLowerCase()) ? interval.toLowerCase() : interval,
      timeZone: "Etc/UTC",
      concurrencyPolicy: "Forbid",
      // A run missed while the controller was down starts once, if within the hour.
      startingDeadlineSeconds: 3600,
      successfulJobsHistoryLimit: 3,
      failedJobsHistoryLimit: 3,
      jobTemplate: { metadata: { labels }, spec: jobSpec },
    },
  };
}
