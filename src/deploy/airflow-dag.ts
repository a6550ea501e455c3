import { EXIT_TEMPFAIL } from "../errors.js";
import { GENERATED_MARKER, type GeneratedFile } from "./generated-files.js";
import type { DeploymentPlan, PodOptions } from "./deployment-plan.js";
import { SECRETS_MOUNT_PATH } from "./deployment-plan.js";
import { DEFAULT_SECRET_NAME } from "./pod-options.js";
import { describeStep, stepBlocks, stepTaskIds } from "./schedule-steps.js";

/** How the DAGs run the image; the CLI's `deploy airflow` options. */
export interface AirflowOptions extends PodOptions {
  retryDelayMinutes?: number;
  /**
   * Keep credential files in the secrets manager and in Kubernetes only while the pod runs: a task
   * before the pod creates the Secret from Airflow Variables, a task after it deletes it, even
   * when the pipeline failed.
   */
  ephemeralSecret?: boolean;
}

/**
 * The oldest apache-airflow-providers-cncf-kubernetes the DAGs run on: the first with
 * `airflow.providers.cncf.kubernetes.secret` (before it, Secret lived in Airflow core).
 */
export const CNCF_KUBERNETES_PROVIDER = "7.4.0";

/** A Python literal for a JSON-like value; JSON string escapes are valid Python escapes. */
export function py(value: unknown, indent = ""): string {
  if (value === null || value === undefined) return "None";
  if (typeof value === "boolean") return value ? "True" : "False";
  if (typeof value === "number") return String(value);
  if (typeof value === "string") return JSON.stringify(value);
  // Short lists and dicts stay on one line, as a person would write them.
  const flat = pyInline(value);
  if (flat.length + indent.length <= 80) return flat;
  const inner = `${indent}    `;
  if (Array.isArray(value)) {
    if (value.length === 0) return "[]";
    return `[\n${value.map((v) => `${inner}${py(v, inner)},\n`).join("")}${indent}]`;
  }
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 0) return "{}";
  return `{\n${entries.map(([k, v]) => `${inner}${JSON.stringify(k)}: ${py(v, inner)},\n`).join("")}${indent}}`;
}

function pyInline(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(pyInline).join(", ")}]`;
  if (value !== null && typeof value === "object") {
    return `{${Object.entries(value as Record<string, unknown>)
      .map(([k, v]) => `${JSON.stringify(k)}: ${pyInline(v)}`)
      .join(", ")}}`;
  }
  return py(value);
}

/** `daily_load` → `daily-load`: a DNS-1123 name for pods and Secrets. */
export function kubernetesName(text: string): string {
  const name = text
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 63)
    .replace(/-+$/, "");
  return name === "" ? "sluice" : name;
}

function pythonIdentifier(text: string): string {
  const id = text.replace(/[^A-Za-z0-9_]/g, "_");
  return /^[0-9]/.test(id) ? `_${id}` : id;
}

/** One DAG file per schedule: `<plan.id>.py`. */
export function airflowDagFile(plan: DeploymentPlan, options: AirflowOptions): GeneratedFile {
  return { name: `${plan.id}.py`, content: airflowDag(plan, options) };
}

/** The text of the DAG running one schedule with the KubernetesPodOperator. */
export function airflowDag(plan: DeploymentPlan, options: AirflowOptions): string {
  const namespace = options.namespace ?? "default";
  const baseSecret = options.secretName ?? DEFAULT_SECRET_NAME;
  const ephemeral = (options.ephemeralSecret ?? false) && plan.credentialFiles.length > 0;
  // A Secret of its own per DAG, so that deleting it never pulls a file from under another DAG's pod.
  const secretName = ephemeral ? kubernetesName(`${baseSecret}-${plan.schedule.name}`) : baseSecret;
  const retries = options.retries ?? 2;
  const retryDelay = options.retryDelayMinutes ?? 5;
  const envVars: Record<string, string> = { ...plan.env };
  for (const secret of plan.secretEnv) {
    // Rendered when the task runs, from the Airflow Variable (the secrets manager backs it).
    envVars[secret.envVar] = `{{ var.value.${secret.airflowVariable} }}`;
  }
  const lines: string[] = [];
  const emit = (...text: string[]): void => {
    lines.push(...text);
  };
  const what = plan.steps.map(describeStep).join(", ");
  emit(
    `# ${GENERATED_MARKER} airflow from ${options.projectFile ?? "the project file"}, schedule "${plan.schedule.name}".`,
    "# Do not edit: change the project file and run `sluice deploy airflow` again (it overwrites only",
    "# files with this header).",
    `"""sluice schedule ${plan.schedule.name}: ${what}."""`,
    "",
    "from datetime import timedelta",
    "",
    "import pendulum",
    "from airflow import DAG",
    "from airflow.exceptions import AirflowException, AirflowFailException, AirflowSkipException",
  );
  if (ephemeral) {
    emit(
      "from airflow.models.variable import Variable",
      "from airflow.operators.python import PythonOperator",
    );
  }
  emit(
    "from kubernetes.client import models as k8s",
    "",
    "# Needs apache-airflow-providers-cncf-kubernetes 7.4.0 or later: the provider's own Secret",
    "# class (`airflow.providers.cncf.kubernetes.secret`) and the `container_resources` argument",
    "# are not in older ones.",
    "try:",
    "    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator",
    "    from airflow.providers.cncf.kubernetes.secret import Secret",
    "except ImportError as error:",
    "    raise ImportError(",
    `        ${py(`this DAG needs the Airflow provider apache-airflow-providers-cncf-kubernetes>=${CNCF_KUBERNETES_PROVIDER} (on Cloud Composer: add it under PyPI packages, or use an image that has it)`)}`,
    "    ) from error",
    "",
    `IMAGE = ${py(options.image)}`,
    `NAMESPACE = ${py(namespace)}`,
    `CREDENTIALS_SECRET = ${py(secretName)}`,
    "",
    "# Secret values are never written here: each comes from an Airflow Variable (backed by the",
    "# secrets manager), rendered when the task runs.",
    `ENV_VARS = ${py(envVars)}`,
    "",
  );
  if (plan.credentialFiles.length > 0) {
    emit(
      "# Credential files, mounted read-only from the Kubernetes Secret; keys:",
      ...plan.credentialFiles.map((file) => `#   ${file.secretKey} -> ${file.path} (${file.envVar})`),
      `SECRETS = [Secret(deploy_type="volume", deploy_target=${py(SECRETS_MOUNT_PATH)}, secret=CREDENTIALS_SECRET)]`,
    );
  } else {
    emit("SECRETS = []");
  }
  emit("");
  if (options.nodePool !== undefined) {
    const affinity = {
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
    emit(`AFFINITY = ${py(affinity)}`);
  } else {
    emit("AFFINITY = None");
  }
  const requests: Record<string, string> = {};
  if (options.cpu !== undefined) requests.cpu = options.cpu;
  if (options.memory !== undefined) requests.memory = options.memory;
  emit(
    Object.keys(requests).length > 0
      ? `RESOURCES = k8s.V1ResourceRequirements(requests=${py(requests)})`
      : "RESOURCES = None",
    "",
  );
  if (ephemeral) {
    const files = Object.fromEntries(plan.credentialFiles.map((f) => [f.secretKey, f.airflowVariable]));
    emit(
      "# --ephemeral-secret: the files stay in the secrets manager; Kubernetes holds them only while",
      "# the pipeline runs. Secret key -> Airflow Variable with the file's content:",
      `CREDENTIAL_FILE_VARIABLES = ${py(files)}`,
      "",
      "",
      "def _core_v1():",
      "    from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook",
      "",
      "    return KubernetesHook().core_v1_client",
      "",
      "",
      "def delete_credentials_secret():",
      "    from kubernetes.client.exceptions import ApiException",
      "",
      "    try:",
      "        _core_v1().delete_namespaced_secret(name=CREDENTIALS_SECRET, namespace=NAMESPACE)",
      "    except ApiException as error:",
      "        if error.status != 404:",
      "            raise",
      "",
      "",
      "def create_credentials_secret():",
      "    # A Secret left by a run that was killed before its cleanup is replaced.",
      "    delete_credentials_secret()",
      "    body = k8s.V1Secret(",
      "        metadata=k8s.V1ObjectMeta(",
      "            name=CREDENTIALS_SECRET,",
      '            labels={"app.kubernetes.io/managed-by": "sluice"},',
      "        ),",
      '        type="Opaque",',
      "        string_data={key: Variable.get(name) for key, name in CREDENTIAL_FILE_VARIABLES.items()},",
      "    )",
      "    _core_v1().create_namespaced_secret(namespace=NAMESPACE, body=body)",
      "",
      "",
      "def fail_when_an_upstream_task_failed():",
      '    raise AirflowException("the pipeline failed: see the failed task\'s log")',
      "",
    );
  }
  emit(
    "",
    "# sluice exits 75 (EX_TEMPFAIL) when a retry can help: a server restarting or unreachable, a",
    "# connection lost, a rate limit, the state locked by another run (it has retried within the",
    "# run first, `max_retries`). 1 and 2 say a retry cannot help until someone changes something.",
    "# Airflow retries every failure and the KubernetesPodOperator has no retry by exit code, so",
    "# this operator fails the task for good (AirflowFailException) on any other exit code.",
    `RETRY_EXIT_CODE = ${EXIT_TEMPFAIL}`,
    "",
    "",
    "def sluice_exit_code(pod, container_name):",
    '    """The exit code of the sluice container of a finished pod; None when it has none."""',
    '    status = getattr(pod, "status", None)',
    '    for container in getattr(status, "container_statuses", None) or []:',
    "        if container.name == container_name:",
    '            terminated = getattr(getattr(container, "state", None), "terminated", None)',
    '            return getattr(terminated, "exit_code", None)',
    "    return None",
    "",
    "",
    "class SluicePodOperator(KubernetesPodOperator):",
    '    """Runs sluice in a pod; a failed run is retried only when it exited 75, or never exited."""',
    "",
    "    def cleanup(self, pod, remote_pod, **kwargs):",
    "        # The provider calls this once the pod ended, with the pod as read back (its container",
    "        # statuses), and raises AirflowException here when the pod failed.",
    "        try:",
    "            return super().cleanup(pod, remote_pod, **kwargs)",
    "        except (AirflowFailException, AirflowSkipException):",
    "            raise",
    "        except AirflowException as error:",
    '            code = sluice_exit_code(remote_pod, getattr(self, "base_container_name", "base"))',
    "            # No exit code: the pod never ran to the end (evicted, node lost, image not pulled).",
    "            if code is None or code == RETRY_EXIT_CODE:",
    "                raise",
    "            raise AirflowFailException(",
    '                f"sluice exited with {code}, which a retry cannot mend (75 would say it can): "',
    '                "see the log above; not retried"',
    "            ) from error",
    "",
    "",
    "default_args = {",
    '    "owner": "sluice",',
    '    "depends_on_past": False,',
    '    "email_on_failure": False,',
    '    "email_on_retry": False,',
    `    "retries": ${retries},`,
    `    "retry_delay": timedelta(minutes=${retryDelay}),`,
    "}",
    "",
    "with DAG(",
    `    dag_id=${py(plan.id)},`,
    `    description=${py(`sluice: ${what}`)},`,
    `    schedule=${py(plan.interval)},`,
    `    start_date=${startDate(plan.schedule.start_date)},`,
    "    catchup=False,",
    // Two runs of one state id would wait on each other's lock: Airflow should not start them.
    "    max_active_runs=1,",
    "    default_args=default_args,",
    `    tags=${py(["sluice"], "    ")},`,
    ") as dag:",
  );
  const taskVars: string[] = [];
  const taskIds = stepTaskIds(plan.steps);
  for (const [index, step] of plan.steps.entries()) {
    const taskId = taskIds[index]!;
    const variable = pythonIdentifier(`run_${taskId}`);
    taskVars.push(variable);
    emit(
      `    ${variable} = SluicePodOperator(`,
      `        task_id=${py(taskId)},`,
      `        name=${py(kubernetesName(`sluice-${plan.schedule.name}`))},`,
      "        namespace=NAMESPACE,",
      "        image=IMAGE,",
      `        cmds=${py(["sluice"], "        ")},`,
      `        arguments=${py(["--log-format", "json", "run", ...stepBlocks(step)], "        ")},`,
      "        env_vars=ENV_VARS,",
      "        secrets=SECRETS,",
      "        affinity=AFFINITY,",
      "        container_resources=RESOURCES,",
      ...(options.serviceAccount !== undefined
        ? [`        service_account_name=${py(options.serviceAccount)},`]
        : []),
      "        get_logs=True,",
      // Retries happen only on exit 75 (see SluicePodOperator).
      `        retries=${retries},`,
      "    )",
    );
  }
  if (ephemeral) {
    emit(
      "    create_secret = PythonOperator(",
      '        task_id="create-credentials-secret",',
      "        python_callable=create_credentials_secret,",
      "    )",
      "    # all_done: the Secret goes even when the pipeline failed.",
      "    delete_secret = PythonOperator(",
      '        task_id="delete-credentials-secret",',
      "        python_callable=delete_credentials_secret,",
      '        trigger_rule="all_done",',
      "    )",
      "    # NOTE: delete_secret succeeds after a failed pipeline, and a DAG run takes the state of its",
      "    # last tasks: this watcher keeps the run failed when the pipeline failed.",
      "    pipeline_failed = PythonOperator(",
      '        task_id="pipeline-failed",',
      "        python_callable=fail_when_an_upstream_task_failed,",
      '        trigger_rule="one_failed",',
      "        retries=0,",
      "    )",
      `    create_secret >> ${taskVars.join(" >> ")} >> delete_secret`,
      `    [create_secret, ${taskVars.join(", ")}] >> pipeline_failed`,
    );
  } else if (taskVars.length > 1) {
    emit(`    ${taskVars.join(" >> ")}`);
  }
  return `${lines.join("\n")}\n`;
}

/** `start_date` of the schedule, else a fixed date in the past (catchup is off). */
function startDate(text: string | undefined): string {
  const match = text !== undefined ? /^(\d{4})-(\d{2})-(\d{2})/.exec(text) : null;
  if (!match) return 'pendulum.datetime(2024, 1, 1, tz="UTC")';
  return `pendulum.datetime(${Number(match[1])}, ${Number(match[2])}, ${Number(match[3])}, tz="UTC")`;
}
