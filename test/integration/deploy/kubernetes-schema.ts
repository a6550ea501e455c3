/**
 * A structural check of Kubernetes manifests against the fields of the official batch/v1 and
 * core/v1 OpenAPI types (CronJob, JobSpec, PodSpec, Container, ...), as `kubectl apply
 * --validate=strict` does: unknown fields, wrong types and missing required fields are errors.
 * Only the types sluice writes are described, each with all of its fields that sluice could
 * plausibly use; a field outside this list is reported, so the list must be extended (from the
 * official reference) before the generator may write it.
 */

type FieldType =
  | "string"
  | "integer"
  | "boolean"
  | { object: string }
  | { array: FieldType }
  | { map: "string" }
  | { enum: readonly string[] };

interface ObjectType {
  fields: Record<string, FieldType>;
  required?: readonly string[];
}

const o = (name: string): FieldType => ({ object: name });
const list = (item: FieldType): FieldType => ({ array: item });

const TYPES: Record<string, ObjectType> = {
  CronJob: {
    fields: { apiVersion: "string", kind: "string", metadata: o("ObjectMeta"), spec: o("CronJobSpec") },
  },
  Job: {
    fields: { apiVersion: "string", kind: "string", metadata: o("ObjectMeta"), spec: o("JobSpec") },
  },
  ObjectMeta: {
    fields: {
      name: "string",
      namespace: "string",
      labels: { map: "string" },
      annotations: { map: "string" },
      generateName: "string",
    },
  },
  // batch/v1 CronJobSpec: schedule and jobTemplate are required.
  CronJobSpec: {
    fields: {
      concurrencyPolicy: { enum: ["Allow", "Forbid", "Replace"] },
      failedJobsHistoryLimit: "integer",
      jobTemplate: o("JobTemplateSpec"),
      schedule: "string",
      startingDeadlineSeconds: "integer",
      successfulJobsHistoryLimit: "integer",
      suspend: "boolean",
      timeZone: "string",
    },
    required: ["schedule", "jobTemplate"],
  },
  JobTemplateSpec: { fields: { metadata: o("ObjectMeta"), spec: o("JobSpec") } },
  JobSpec: {
    fields: {
      activeDeadlineSeconds: "integer",
      backoffLimit: "integer",
      completions: "integer",
      parallelism: "integer",
      podFailurePolicy: o("PodFailurePolicy"),
      template: o("PodTemplateSpec"),
      ttlSecondsAfterFinished: "integer",
      suspend: "boolean",
    },
    required: ["template"],
  },
  // batch/v1 PodFailurePolicy (Kubernetes 1.26+): rules applied in order to a failed pod.
  PodFailurePolicy: { fields: { rules: list(o("PodFailurePolicyRule")) }, required: ["rules"] },
  PodFailurePolicyRule: {
    fields: {
      action: { enum: ["FailJob", "FailIndex", "Ignore", "Count"] },
      onExitCodes: o("PodFailurePolicyOnExitCodesRequirement"),
      onPodConditions: list(o("PodFailurePolicyOnPodConditionsPattern")),
    },
    required: ["action"],
  },
  PodFailurePolicyOnExitCodesRequirement: {
    fields: { containerName: "string", operator: { enum: ["In", "NotIn"] }, values: list("integer") },
    required: ["operator", "values"],
  },
  PodFailurePolicyOnPodConditionsPattern: {
    fields: { type: "string", status: "string" },
    required: ["type"],
  },
  PodTemplateSpec: { fields: { metadata: o("ObjectMeta"), spec: o("PodSpec") } },
  PodSpec: {
    fields: {
      affinity: o("Affinity"),
      containers: list(o("Container")),
      initContainers: list(o("Container")),
      nodeSelector: { map: "string" },
      restartPolicy: { enum: ["Always", "OnFailure", "Never"] },
      securityContext: o("PodSecurityContext"),
      serviceAccountName: "string",
      volumes: list(o("Volume")),
    },
    required: ["containers"],
  },
  Container: {
    fields: {
      name: "string",
      image: "string",
      command: list("string"),
      args: list("string"),
      env: list(o("EnvVar")),
      resources: o("ResourceRequirements"),
      securityContext: o("SecurityContext"),
      volumeMounts: list(o("VolumeMount")),
      workingDir: "string",
      imagePullPolicy: { enum: ["Always", "Never", "IfNotPresent"] },
    },
    required: ["name"],
  },
  EnvVar: { fields: { name: "string", value: "string", valueFrom: o("EnvVarSource") }, required: ["name"] },
  EnvVarSource: { fields: { secretKeyRef: o("SecretKeySelector"), configMapKeyRef: o("SecretKeySelector") } },
  SecretKeySelector: { fields: { name: "string", key: "string", optional: "boolean" }, required: ["key"] },
  ResourceRequirements: { fields: { requests: { map: "string" }, limits: { map: "string" } } },
  SecurityContext: {
    fields: {
      allowPrivilegeEscalation: "boolean",
      capabilities: o("Capabilities"),
      privileged: "boolean",
      readOnlyRootFilesystem: "boolean",
      runAsNonRoot: "boolean",
      runAsUser: "integer",
      runAsGroup: "integer",
      seccompProfile: o("SeccompProfile"),
    },
  },
  Capabilities: { fields: { add: list("string"), drop: list("string") } },
  PodSecurityContext: {
    fields: {
      fsGroup: "integer",
      runAsGroup: "integer",
      runAsNonRoot: "boolean",
      runAsUser: "integer",
      seccompProfile: o("SeccompProfile"),
      supplementalGroups: list("integer"),
    },
  },
  SeccompProfile: {
    fields: { type: { enum: ["Localhost", "RuntimeDefault", "Unconfined"] }, localhostProfile: "string" },
    required: ["type"],
  },
  VolumeMount: {
    fields: { name: "string", mountPath: "string", readOnly: "boolean", subPath: "string" },
    required: ["name", "mountPath"],
  },
  Volume: { fields: { name: "string", secret: o("SecretVolumeSource") }, required: ["name"] },
  SecretVolumeSource: {
    fields: {
      secretName: "string",
      items: list(o("KeyToPath")),
      defaultMode: "integer",
      optional: "boolean",
    },
  },
  KeyToPath: { fields: { key: "string", path: "string", mode: "integer" }, required: ["key", "path"] },
  Affinity: { fields: { nodeAffinity: o("NodeAffinity") } },
  NodeAffinity: {
    fields: { requiredDuringSchedulingIgnoredDuringExecution: o("NodeSelector") },
  },
  NodeSelector: {
    fields: { nodeSelectorTerms: list(o("NodeSelectorTerm")) },
    required: ["nodeSelectorTerms"],
  },
  NodeSelectorTerm: { fields: { matchExpressions: list(o("NodeSelectorRequirement")) } },
  NodeSelectorRequirement: {
    fields: {
      key: "string",
      operator: { enum: ["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"] },
      values: list("string"),
    },
    required: ["key", "operator"],
  },
};

/** The problems of `value` as a `typeName`, each with its path (`spec.jobTemplate...`); empty when valid. */
export function validateKubernetesObject(value: unknown, typeName: "CronJob" | "Job"): string[] {
  const problems: string[] = [];
  check(value, { object: typeName }, "", problems);
  return problems;
}

function check(value: unknown, type: FieldType, path: string, problems: string[]): void {
  const at = path === "" ? "(root)" : path;
  if (type === "string" || type === "boolean") {
    if (typeof value !== type) problems.push(`${at}: expected ${type}, got ${JSON.stringify(value)}`);
  } else if (type === "integer") {
    if (!Number.isInteger(value)) problems.push(`${at}: expected integer, got ${JSON.stringify(value)}`);
  } else if ("enum" in type) {
    if (typeof value !== "string" || !type.enum.includes(value))
      problems.push(`${at}: expected one of ${type.enum.join(", ")}, got ${JSON.stringify(value)}`);
  } else if ("array" in type) {
    if (!Array.isArray(value)) problems.push(`${at}: expected a list`);
    else value.forEach((item, index) => check(item, type.array, `${path}[${index}]`, problems));
  } else if ("map" in type) {
    if (typeof value !== "object" || value === null || Array.isArray(value))
      problems.push(`${at}: expected a map`);
    else
      for (const [key, item] of Object.entries(value)) {
        if (typeof item !== "string")
          problems.push(`${path}.${key}: expected string, got ${JSON.stringify(item)}`);
      }
  } else {
    const spec = TYPES[type.object]!;
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      problems.push(`${at}: expected a ${type.object} object`);
      return;
    }
    const record = value as Record<string, unknown>;
    for (const field of spec.required ?? []) {
      if (record[field] === undefined)
        problems.push(`${path === "" ? "" : `${path}.`}${field}: required by ${type.object}`);
    }
    for (const [field, item] of Object.entries(record)) {
      const fieldType = spec.fields[field];
      const fieldPath = path === "" ? field : `${path}.${field}`;
      if (!fieldType) problems.push(`${fieldPath}: unknown field of ${type.object}`);
      else check(item, fieldType, fieldPath, problems);
    }
  }
}
