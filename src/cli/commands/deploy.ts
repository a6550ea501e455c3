import { basename } from "node:path";
import { Option, type Command } from "commander";
import { DEFAULT_SECRET_NAME } from "../../deploy/pod-options.js";
import { ConfigError } from "../../errors.js";
import type { DeploymentPlan } from "../../deploy/deployment-plan.js";
import type { CliContext } from "../cli-context.js";
import type { Wrap } from "../program.js";

interface CommonOptions {
  image: string;
  out: string;
  namespace?: string;
  secretName: string;
  nodePool?: string;
  nodePoolLabel?: string;
  cpu?: string;
  memory?: string;
  serviceAccount?: string;
  retries: string;
  variablePrefix: string;
}

interface AirflowCliOptions extends CommonOptions {
  ephemeralSecret?: boolean;
}

function addCommonOptions(command: Command): Command {
  return command
    .requiredOption("--image <uri>", "container image to run, e.g. europe-docker.pkg.dev/p/r/sluice:1.0")
    .requiredOption("--out <dir>", "folder to write the files into (created if missing)")
    .option("--namespace <ns>", "Kubernetes namespace of the pods")
    .option(
      "--secret-name <name>",
      "Kubernetes Secret with the credential files (kubernetes: also the secret variables)",
      DEFAULT_SECRET_NAME,
    )
    .option("--node-pool <pool>", "run the pods only on nodes of this pool (node affinity)")
    .option("--node-pool-label <label>", "node label --node-pool matches", "cloud.google.com/gke-nodepool")
    .option("--cpu <quantity>", "CPU request of the pod, e.g. 500m")
    .option("--memory <quantity>", "memory request of the pod, e.g. 512Mi")
    .option(
      "--service-account <name>",
      "Kubernetes service account of the pods (GKE Workload Identity: reach Google APIs without a key file)",
    )
    .option(
      "--retries <n>",
      "retries of a run that failed transiently (exit code 75); other failures are final",
      "2",
    )
    .addOption(
      new Option("--variable-prefix <prefix>", "prefix of the Airflow Variables holding secrets").default(
        "sluice_",
      ),
    );
}

export function registerDeployCommand(program: Command, wrap: Wrap): void {
  const deploy = program
    .command("deploy")
    .description("Write deployment files for the project's schedules: Airflow DAGs or Kubernetes CronJobs");

  addCommonOptions(
    deploy
      .command("airflow")
      .description(
        "One Airflow 2 DAG per schedule, running the image with the KubernetesPodOperator (cncf.kubernetes provider)",
      ),
  )
    .option(
      "--ephemeral-secret",
      "create the credential-file Secret from the secrets manager before the pod and delete it after",
    )
    .action(
      wrap(async (context, options: AirflowCliOptions) => {
        const { plans, projectFile } = await plan(context, options);
        const { airflowDagFile, writeGeneratedFiles } = await context.runtime();
        if (options.ephemeralSecret && plans.every((p) => p.credentialFiles.length === 0)) {
          context.output.warn(
            "--ephemeral-secret: no schedule uses a credential file, so no Secret is created",
          );
        }
        const files = plans.map((p) =>
          airflowDagFile(p, {
            ...kubernetesOptions(options),
            ...(options.ephemeralSecret ? { ephemeralSecret: true } : {}),
            projectFile,
          }),
        );
        report(context, writeGeneratedFiles(options.out, files), plans, "airflow", options);
        return 0;
      }),
    );

  addCommonOptions(
    deploy
      .command("kubernetes")
      .description("One Kubernetes CronJob manifest per schedule (a Job for @once)"),
  ).action(
    wrap(async (context, options: CommonOptions) => {
      const { plans, projectFile } = await plan(context, options);
      const { kubernetesManifestFile, writeGeneratedFiles } = await context.runtime();
      const files = plans.map((p) =>
        kubernetesManifestFile(p, { ...kubernetesOptions(options), projectFile }),
      );
      report(context, writeGeneratedFiles(options.out, files), plans, "kubernetes", options);
      return 0;
    }),
  );
}

async function plan(context: CliContext, options: CommonOptions) {
  const { checkPodOptions, planDeployments } = await context.runtime();
  if (!/^\d+$/.test(options.retries))
    throw new ConfigError(`--retries: expected a number, got ${options.retries}`);
  checkPodOptions(kubernetesOptions(options));
  const project = await context.openProject();
  const result = planDeployments(project.loaded.project, {
    variablePrefix: options.variablePrefix,
    ...(context.options.environment !== undefined ? { environment: context.options.environment } : {}),
  });
  for (const warning of result.warnings) context.output.warn(warning);
  return { plans: result.plans, projectFile: basename(project.loaded.path) };
}

function kubernetesOptions(options: CommonOptions) {
  return {
    image: options.image,
    secretName: options.secretName,
    retries: Number(options.retries),
    ...(options.namespace !== undefined ? { namespace: options.namespace } : {}),
    ...(options.nodePool !== undefined ? { nodePool: options.nodePool } : {}),
    ...(options.nodePoolLabel !== undefined ? { nodePoolLabel: options.nodePoolLabel } : {}),
    ...(options.cpu !== undefined ? { cpu: options.cpu } : {}),
    ...(options.memory !== undefined ? { memory: options.memory } : {}),
    ...(options.serviceAccount !== undefined ? { serviceAccount: options.serviceAccount } : {}),
  };
}

function report(
  context: CliContext,
  paths: string[],
  plans: readonly DeploymentPlan[],
  target: "airflow" | "kubernetes",
  options: AirflowCliOptions,
): void {
  context.output.result(paths.join("\n"));
  const unique = (values: string[]): string => [...new Set(values)].join(", ") || "none";
  const files = unique(plans.flatMap((p) => p.credentialFiles.map((f) => f.secretKey)));
  if (target === "airflow") {
    const variables = unique(
      plans.flatMap((p) => [
        ...p.secretEnv.map((s) => s.airflowVariable),
        ...(options.ephemeralSecret ? p.credentialFiles.map((f) => f.airflowVariable) : []),
      ]),
    );
    context.output.info(
      `wrote ${paths.length} DAG file(s); Airflow Variables they read: ${variables}; ` +
        (options.ephemeralSecret
          ? "credential files are put in a Kubernetes Secret while the pod runs"
          : `keys of Kubernetes Secret ${options.secretName}: ${files}`),
    );
  } else {
    const keys = unique(
      plans.flatMap((p) => [
        ...p.secretEnv.map((s) => s.secretKey),
        ...p.credentialFiles.map((f) => f.secretKey),
      ]),
    );
    context.output.info(
      `wrote ${paths.length} manifest(s); keys of Kubernetes Secret ${options.secretName}: ${keys}`,
    );
  }
}
