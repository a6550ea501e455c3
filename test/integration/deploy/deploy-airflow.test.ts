import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { TestProject } from "../../support/test-project.js";
import { describeResult } from "../../support/run-cli.js";
import { inspectDag, pyCompile, type DagStructure } from "./python-dag.js";

/**
 * `sluice deploy airflow` on a project with a schedule of one pipeline and a schedule of a job
 * whose loader needs a credential file. The DAGs are compiled by python3, read with Python's
 * parser, and executed against stand-ins of the Airflow modules (Airflow cannot be installed here).
 */

const IMAGE = "europe-docker.pkg.dev/acme/etl/sluice:1.2.3";
const PASSWORD = "pg-s3cret-value-7781";
const SA_KEY = '{"private_key": "sa-s3cret-value-9932"}';

let project: TestProject;
let out: string;

const projectFile = {
  default_environment: "prod",
  environments: [{ name: "prod" }],
  plugins: {
    extractors: [
      { name: "tap-postgres", config: { host: "db.example.com", user: "etl", dbname: "shop" } },
      // A password given by reference: the pod needs REPLICA_PASSWORD.
      {
        name: "tap-replica",
        inherit_from: "tap-postgres",
        config: { host: "replica.example.com", password: "$REPLICA_PASSWORD" },
      },
    ],
    loaders: [
      { name: "target-duckdb", config: { path: "output/warehouse.duckdb" } },
      {
        name: "target-bigquery",
        variant: "adswerve",
        pip_url: "git+https://github.com/adswerve/target-bigquery",
        settings: [{ name: "project_id" }, { name: "credentials_path", sensitive: true }],
        config: { project_id: "acme", credentials_path: "secrets/sa.json" },
      },
    ],
    mappers: [
      {
        name: "meltano-map-transformer",
        mappings: [
          { name: "hash-pii", config: { stream_maps: { "public-users": { email: "md5(email)" } } } },
          { name: "drop-pii", config: { stream_maps: { "public-users": { email: "__NULL__" } } } },
        ],
      },
    ],
  },
  // A mapping between extractor and loader is one of the task's blocks, passed to `sluice run`.
  jobs: [
    { name: "to-both", tasks: ["tap-postgres hash-pii target-duckdb", ["tap-replica", "target-bigquery"]] },
    // The same extractor and loader through different mappings (and once through none): three tasks.
    {
      name: "pii-variants",
      tasks: [
        "tap-postgres hash-pii target-duckdb",
        "tap-postgres drop-pii target-duckdb",
        "tap-postgres target-duckdb",
        "tap-postgres hash-pii drop-pii target-duckdb",
      ],
    },
  ],
  schedules: [
    { name: "daily_duckdb", interval: "0 2 * * *", extractor: "tap-postgres", loader: "target-duckdb" },
    {
      name: "nightly",
      interval: "@daily",
      job: "to-both",
      start_date: "2025-06-01",
      env: { SLUICE_SPOOL_DIR: "/tmp/spool" },
    },
    { name: "variants", interval: "@weekly", job: "pii-variants" },
  ],
};

beforeAll(() => {
  project = new TestProject({ env: { TAP_POSTGRES_PASSWORD: PASSWORD }, prefix: "sluice-airflow-" });
  project.write(projectFile);
  fs.mkdirSync(project.file("secrets"));
  fs.writeFileSync(project.file("secrets/sa.json"), SA_KEY);
  out = project.file("dags");
});

afterAll(() => project?.remove());

function deploy(extra: string[] = [], dir = out) {
  return project.runText(["deploy", "airflow", "--image", IMAGE, "--out", dir, ...extra]);
}

/** The pod tasks: sluice's own subclass of the KubernetesPodOperator (see below). */
function kpoTasks(dag: DagStructure) {
  return Object.entries(dag.tasks).filter(([, task]) => task.operator === "SluicePodOperator");
}

function dagCall(dag: DagStructure) {
  const call = dag.calls.find((c) => c.func === "DAG");
  if (!call) throw new Error("no DAG(...) call");
  return call.kwargs;
}

describe("sluice deploy airflow", () => {
  let daily: DagStructure;
  let nightly: DagStructure;
  let stderr: string;

  beforeAll(async () => {
    const result = await deploy([
      "--namespace",
      "etl",
      "--node-pool",
      "etl-pool",
      "--cpu",
      "500m",
      "--memory",
      "1Gi",
      "--retries",
      "3",
      "--service-account",
      "sluice-runner",
    ]);
    expect(result.code, describeResult(result)).toBe(0);
    stderr = result.stderr;
    expect(fs.readdirSync(out).sort()).toEqual([
      "sluice_daily_duckdb.py",
      "sluice_nightly.py",
      "sluice_variants.py",
    ]);
    daily = inspectDag(path.join(out, "sluice_daily_duckdb.py"));
    nightly = inspectDag(path.join(out, "sluice_nightly.py"));
  });

  test("every file compiles with python3 and starts with the generated marker", () => {
    for (const name of fs.readdirSync(out).filter((n) => n.endsWith(".py"))) {
      const file = path.join(out, name);
      const compiled = pyCompile(file);
      expect(compiled.status, compiled.stderr).toBe(0);
      expect(fs.readFileSync(file, "utf8").split("\n")[0]).toMatch(/^# Generated by sluice deploy airflow/);
    }
  });

  test("imports the cncf.kubernetes provider's operator and Secret", () => {
    expect(daily.imports).toEqual(
      expect.arrayContaining([
        "airflow.DAG",
        "airflow.providers.cncf.kubernetes.operators.pod.KubernetesPodOperator",
        "airflow.providers.cncf.kubernetes.secret.Secret",
      ]),
    );
    expect(daily.withCount).toBe(1);
  });

  test("says which provider version it needs, when the provider is older", () => {
    const text = fs.readFileSync(path.join(out, "sluice_daily_duckdb.py"), "utf8");
    expect(text).toContain("apache-airflow-providers-cncf-kubernetes 7.4.0 or later");
    // A provider without airflow.providers.cncf.kubernetes.secret (before 7.4.0): the DAG fails
    // to import with a message naming the version, not a bare ModuleNotFoundError.
    const failure = runWithStandIns(path.join(out, "sluice_daily_duckdb.py"), "old-provider");
    expect(failure).toEqual([
      "ImportError: this DAG needs the Airflow provider apache-airflow-providers-cncf-kubernetes>=7.4.0 (on Cloud Composer: add it under PyPI packages, or use an image that has it)",
    ]);
  });

  test("a DuckDB file inside the pod is a warning: it is gone when the pod ends", () => {
    expect(stderr).toContain(
      'plugins.loaders[0].config.path: "output/warehouse.duckdb" is on the pod\'s own disk, which is gone when the pod ends (schedule "daily_duckdb"); mount a persistent volume there',
    );
  });

  test("the DAG has the project's schedule, no catchup, one run at a time, retries", () => {
    expect(dagCall(daily)).toMatchObject({
      dag_id: "sluice_daily_duckdb",
      schedule: "0 2 * * *",
      catchup: false,
      max_active_runs: 1,
    });
    expect(dagCall(nightly)).toMatchObject({ dag_id: "sluice_nightly", schedule: "@daily", catchup: false });
    const start = nightly.calls.find((c) => c.func === "pendulum.datetime");
    expect(start?.args).toEqual([2025, 6, 1]);
    expect(daily.constants.default_args).toEqual({
      expr: expect.stringContaining("'retries': 3") as unknown,
    });
  });

  test("a KubernetesPodOperator (sluice's subclass) runs the image with sluice run <extractor> <loader>", () => {
    const tasks = kpoTasks(daily);
    expect(tasks).toHaveLength(1);
    const [, task] = tasks[0]!;
    expect(task.kwargs).toMatchObject({
      task_id: "tap-postgres-to-target-duckdb",
      image: { name: "IMAGE" },
      namespace: { name: "NAMESPACE" },
      cmds: ["sluice"],
      arguments: ["--log-format", "json", "run", "tap-postgres", "target-duckdb"],
      env_vars: { name: "ENV_VARS" },
      secrets: { name: "SECRETS" },
      affinity: { name: "AFFINITY" },
      container_resources: { name: "RESOURCES" },
      // GKE Workload Identity: the pod's service account is bound to a Google one.
      service_account_name: "sluice-runner",
      retries: 3,
    });
    expect(daily.constants.IMAGE).toBe(IMAGE);
    expect(daily.constants.NAMESPACE).toBe("etl");
  });

  test("secrets come from Airflow Variables, never as values", () => {
    expect(daily.constants.ENV_VARS).toEqual({
      SLUICE_DATABASE_URI: "{{ var.value.sluice_database_uri }}",
      TAP_POSTGRES_PASSWORD: "{{ var.value.sluice_tap_postgres_password }}",
    });
    expect(nightly.constants.ENV_VARS).toEqual({
      SLUICE_SPOOL_DIR: "/tmp/spool",
      TARGET_BIGQUERY_CREDENTIALS_PATH: "/var/secrets/sluice/target-bigquery-credentials",
      SLUICE_DATABASE_URI: "{{ var.value.sluice_database_uri }}",
      TAP_POSTGRES_PASSWORD: "{{ var.value.sluice_tap_postgres_password }}",
      REPLICA_PASSWORD: "{{ var.value.sluice_replica_password }}",
    });
    for (const name of fs.readdirSync(out).filter((n) => n.endsWith(".py"))) {
      const text = fs.readFileSync(path.join(out, name), "utf8");
      expect(text).not.toContain(PASSWORD);
      expect(text).not.toContain("sa-s3cret-value");
    }
  });

  test("credential files are a Kubernetes Secret mounted as a volume", () => {
    expect(daily.constants.SECRETS).toEqual([]);
    const secret = nightly.calls.find((c) => c.func === "Secret");
    expect(secret?.kwargs).toEqual({
      deploy_type: "volume",
      deploy_target: "/var/secrets/sluice",
      secret: { name: "CREDENTIALS_SECRET" },
    });
    expect(nightly.constants.CREDENTIALS_SECRET).toBe("sluice-credentials");
  });

  test("node affinity and resource requests from the options", () => {
    expect(daily.constants.AFFINITY).toEqual({
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [
            {
              matchExpressions: [
                { key: "cloud.google.com/gke-nodepool", operator: "In", values: ["etl-pool"] },
              ],
            },
          ],
        },
      },
    });
    const resources = daily.calls.find((c) => c.func === "k8s.V1ResourceRequirements");
    expect(resources?.kwargs).toEqual({ requests: { cpu: "500m", memory: "1Gi" } });
  });

  test("a job runs its tasks as pods in order", () => {
    const tasks = kpoTasks(nightly);
    expect(tasks.map(([, t]) => t.kwargs.arguments)).toEqual([
      ["--log-format", "json", "run", "tap-postgres", "hash-pii", "target-duckdb"],
      ["--log-format", "json", "run", "tap-replica", "target-bigquery"],
    ]);
    expect(nightly.edges).toEqual([[tasks[0]![0], tasks[1]![0]]]);
  });

  test("tasks between the same plugins through different mappings have distinct ids naming the mappings", () => {
    const variants = inspectDag(path.join(out, "sluice_variants.py"));
    const tasks = kpoTasks(variants);
    expect(tasks.map(([, t]) => t.kwargs.task_id)).toEqual([
      "tap-postgres-via-hash-pii-to-target-duckdb",
      "tap-postgres-via-drop-pii-to-target-duckdb",
      "tap-postgres-to-target-duckdb",
      "tap-postgres-via-hash-pii-drop-pii-to-target-duckdb",
    ]);
    expect(new Set(tasks.map(([variable]) => variable)).size).toBe(4);
    expect(tasks.map(([, t]) => (t.kwargs.arguments as string[]).slice(3))).toEqual([
      ["tap-postgres", "hash-pii", "target-duckdb"],
      ["tap-postgres", "drop-pii", "target-duckdb"],
      ["tap-postgres", "target-duckdb"],
      ["tap-postgres", "hash-pii", "drop-pii", "target-duckdb"],
    ]);
    // The stand-ins refuse a task id used twice, as Airflow does (DuplicateTaskIdFound).
    expect(runWithStandIns(path.join(out, "sluice_variants.py"))).toEqual(
      tasks.map(([, t]) => t.kwargs.task_id),
    );
  });

  test("the DAGs run against stand-ins of the Airflow modules", () => {
    for (const name of ["sluice_daily_duckdb.py", "sluice_nightly.py"]) {
      const operators = runWithStandIns(path.join(out, name));
      expect(operators.length).toBeGreaterThan(0);
    }
  });

  test("a failed pod is retried only when sluice exited 75 (or never exited); any other code is final", () => {
    expect(daily.imports).toEqual(
      expect.arrayContaining([
        "airflow.exceptions.AirflowException",
        "airflow.exceptions.AirflowFailException",
        "airflow.exceptions.AirflowSkipException",
      ]),
    );
    expect(daily.constants.RETRY_EXIT_CODE).toBe(75);
    // The pod's end, as the provider's cleanup sees it, for each exit code of the container.
    expect(cleanupOutcomes(path.join(out, "sluice_daily_duckdb.py"))).toEqual({
      "0": "succeeded",
      "1": "failed for good: sluice exited with 1, which a retry cannot mend (75 would say it can): see the log above; not retried",
      "2": "failed for good: sluice exited with 2, which a retry cannot mend (75 would say it can): see the log above; not retried",
      "75": "retried: Pod p returned a failure.",
      "137":
        "failed for good: sluice exited with 137, which a retry cannot mend (75 would say it can): see the log above; not retried",
      none: "retried: Pod p returned a failure.",
      skip: "skipped",
    });
  });
});

describe("sluice deploy airflow --ephemeral-secret", () => {
  let dag: DagStructure;
  let dir: string;

  beforeAll(async () => {
    dir = project.file("dags-ephemeral");
    const result = await deploy(["--ephemeral-secret", "--secret-name", "bq-key"], dir);
    expect(result.code, describeResult(result)).toBe(0);
    dag = inspectDag(path.join(dir, "sluice_nightly.py"));
  });

  test("creates the Secret before the pods and deletes it after them, even on failure", () => {
    expect(pyCompile(path.join(dir, "sluice_nightly.py")).status).toBe(0);
    const byTaskId = Object.fromEntries(
      Object.entries(dag.tasks).map(([variable, task]) => [
        task.kwargs.task_id as string,
        { variable, ...task },
      ]),
    );
    const create = byTaskId["create-credentials-secret"]!;
    const remove = byTaskId["delete-credentials-secret"]!;
    const watcher = byTaskId["pipeline-failed"]!;
    expect(create.operator).toBe("PythonOperator");
    expect(remove.kwargs.trigger_rule).toBe("all_done");
    expect(watcher.kwargs.trigger_rule).toBe("one_failed");
    const first = byTaskId["tap-postgres-via-hash-pii-to-target-duckdb"]!.variable;
    const second = byTaskId["tap-replica-to-target-bigquery"]!.variable;
    expect(dag.edges).toEqual(
      expect.arrayContaining([
        [create.variable, first],
        [first, second],
        [second, remove.variable],
        [second, watcher.variable],
      ]),
    );
    // Its own Secret per DAG, filled from the Variable holding the file.
    expect(dag.constants.CREDENTIALS_SECRET).toBe("bq-key-nightly");
    expect(dag.constants.CREDENTIAL_FILE_VARIABLES).toEqual({
      "target-bigquery-credentials": "sluice_target_bigquery_credentials_path",
    });
    expect(dag.functions).toEqual(
      expect.arrayContaining(["create_credentials_secret", "delete_credentials_secret"]),
    );
  });

  test("the create and delete tasks call the Kubernetes API with the Variable's content", () => {
    const log = runWithStandIns(path.join(dir, "sluice_nightly.py"), true);
    expect(log).toEqual(
      expect.arrayContaining([
        "delete_namespaced_secret bq-key-nightly default",
        "create_namespaced_secret default bq-key-nightly target-bigquery-credentials=<value of sluice_target_bigquery_credentials_path>",
      ]),
    );
  });

  test("without a credential file there is nothing to create", () => {
    const text = fs.readFileSync(path.join(dir, "sluice_daily_duckdb.py"), "utf8");
    expect(text).not.toContain("create_credentials_secret");
  });
});

describe("overwriting", () => {
  test("refuses to overwrite a file it did not generate, and writes nothing", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-dags-"));
    try {
      const handWritten = "# my own DAG\nprint('hello')\n";
      fs.writeFileSync(path.join(dir, "sluice_nightly.py"), handWritten);
      const result = await deploy([], dir);
      expect(result.code, describeResult(result)).toBe(2);
      expect(result.stderr).toContain("sluice_nightly.py exists and was not generated by sluice");
      expect(fs.readFileSync(path.join(dir, "sluice_nightly.py"), "utf8")).toBe(handWritten);
      expect(fs.existsSync(path.join(dir, "sluice_daily_duckdb.py"))).toBe(false);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("overwrites its own files", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-dags-"));
    try {
      expect((await deploy(["--namespace", "a"], dir)).code).toBe(0);
      const result = await deploy(["--namespace", "b"], dir);
      expect(result.code, describeResult(result)).toBe(0);
      expect(inspectDag(path.join(dir, "sluice_nightly.py")).constants.NAMESPACE).toBe("b");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a project without schedules is a usage error", async () => {
    const bare = new TestProject({ prefix: "sluice-airflow-bare-" });
    try {
      bare.write({ plugins: projectFile.plugins });
      const result = await bare.runText(["deploy", "airflow", "--image", IMAGE, "--out", bare.file("d")]);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain("no `schedules:`");
    } finally {
      bare.remove();
    }
  });
});

/**
 * Executes a DAG file with the Airflow, Kubernetes and pendulum modules replaced by recorders,
 * which proves every name it uses is defined; with `callTasks`, also runs the Python callables
 * of its PythonOperators and returns the Kubernetes API calls they made. With "cleanup", calls
 * the pod operator's `cleanup` (on a stand-in provider class that fails as the provider does) for
 * pods whose container ended with each exit code, and returns what Airflow would be told.
 */
function runWithStandIns(file: string, callTasks: boolean | "cleanup" | "old-provider" = false): string[] {
  const script = String.raw`
import runpy, sys, types
from unittest import mock

log = []
operators = []

class Operator:
    def __init__(self, **kwargs):
        # Airflow refuses a task id used twice in a DAG (DuplicateTaskIdFound).
        if any(op.kwargs.get("task_id") == kwargs.get("task_id") for op in operators):
            raise Exception(f"DuplicateTaskIdFound: {kwargs.get('task_id')}")
        self.kwargs = kwargs
        operators.append(self)
    def __rshift__(self, other):
        return other
    def __rrshift__(self, other):
        return self

class Api:
    def delete_namespaced_secret(self, name, namespace):
        log.append(f"delete_namespaced_secret {name} {namespace}")
    def create_namespaced_secret(self, namespace, body):
        data = ",".join(f"{k}={v}" for k, v in sorted(body["string_data"].items()))
        log.append(f"create_namespaced_secret {namespace} {body['metadata']['name']} {data}")

class Hook:
    core_v1_client = Api()

class ApiException(Exception):
    status = 404

def module(name, **attrs):
    m = types.ModuleType(name)
    m.__dict__.update(attrs)
    sys.modules[name] = m
    return m

class Dag:
    def __init__(self, **kwargs):
        self.kwargs = kwargs
    def __enter__(self):
        return self
    def __exit__(self, *args):
        return False

k8s = types.SimpleNamespace(
    V1ResourceRequirements=lambda **kw: kw,
    V1Secret=lambda **kw: kw,
    V1ObjectMeta=lambda **kw: kw,
)
for name in ["airflow.providers", "airflow.providers.cncf", "airflow.providers.cncf.kubernetes",
             "airflow.providers.cncf.kubernetes.operators", "airflow.providers.cncf.kubernetes.hooks",
             "airflow.models", "airflow.operators", "kubernetes", "kubernetes.client.exceptions"]:
    module(name)
module("airflow", DAG=Dag)
class AirflowException(Exception):
    pass

class AirflowFailException(AirflowException):
    pass

class AirflowSkipException(AirflowException):
    pass

class PodOperator(Operator):
    """The provider's cleanup, as far as it matters here: a failed pod raises AirflowException."""
    base_container_name = "base"
    def cleanup(self, pod, remote_pod, xcom_result=None, context=None):
        if remote_pod.status.phase == "Skipped":
            raise AirflowSkipException("skip_on_exit_code")
        if remote_pod.status.phase != "Succeeded":
            raise AirflowException(f"Pod {pod.metadata.name} returned a failure.")

module("airflow.exceptions", AirflowException=AirflowException,
       AirflowFailException=AirflowFailException, AirflowSkipException=AirflowSkipException)
module("airflow.models.variable", Variable=types.SimpleNamespace(get=lambda name: f"<value of {name}>"))
module("airflow.operators.python", PythonOperator=Operator)
module("airflow.providers.cncf.kubernetes.operators.pod", KubernetesPodOperator=PodOperator)
module("airflow.providers.cncf.kubernetes.secret", Secret=lambda **kw: kw)
module("airflow.providers.cncf.kubernetes.hooks.kubernetes", KubernetesHook=Hook)
module("kubernetes.client", models=k8s)
sys.modules["kubernetes.client.exceptions"].ApiException = ApiException
module("pendulum", datetime=lambda *a, **kw: a)

if sys.argv[2] == "old-provider":
    del sys.modules["airflow.providers.cncf.kubernetes.secret"]
    try:
        runpy.run_path(sys.argv[1])
    except ImportError as error:
        print(f"ImportError: {error}")
    sys.exit(0)
namespace = runpy.run_path(sys.argv[1])
if sys.argv[2] == "cleanup":
    import json
    ns = types.SimpleNamespace
    def pod_that_ended(code):
        phase = "Skipped" if code == "skip" else "Succeeded" if code == 0 else "Failed"
        statuses = [] if code in (None, "skip") else [
            ns(name="base", state=ns(terminated=ns(exit_code=code), running=None, waiting=None)),
        ]
        return ns(metadata=ns(name="p"), status=ns(phase=phase, container_statuses=statuses))
    operator = next(op for op in operators if isinstance(op, namespace["SluicePodOperator"]))
    outcomes = {}
    for code in [0, 1, 2, 75, 137, None, "skip"]:
        pod = pod_that_ended(code)
        try:
            # As the provider calls it (keywords, with xcom_result and context).
            operator.cleanup(pod=pod, remote_pod=pod, xcom_result=None, context=None)
            outcome = "succeeded"
        except AirflowFailException as error:
            outcome = f"failed for good: {error}"
        except AirflowSkipException:
            outcome = "skipped"
        except AirflowException as error:
            outcome = f"retried: {error}"
        outcomes["none" if code is None else str(code)] = outcome
    print(json.dumps(outcomes))
elif sys.argv[2] == "call":
    for op in operators:
        if "python_callable" in op.kwargs and op.kwargs["task_id"] != "pipeline-failed":
            op.kwargs["python_callable"]()
    print("\n".join(log))
else:
    print("\n".join(op.kwargs["task_id"] for op in operators))
`;
  const mode =
    callTasks === "cleanup" || callTasks === "old-provider" ? callTasks : callTasks ? "call" : "load";
  const output = execFileSync("python3", ["-c", script, file, mode], {
    encoding: "utf8",
  });
  return output.split("\n").filter((line) => line !== "");
}

/** What each exit code of the sluice container makes of the task: see `runWithStandIns`. */
function cleanupOutcomes(file: string): Record<string, string> {
  return JSON.parse(runWithStandIns(file, "cleanup").join("\n")) as Record<string, string>;
}
