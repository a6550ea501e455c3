import { ConfigError } from "../errors.js";
import type { PodOptions } from "./deployment-plan.js";

/** The Kubernetes Secret the pods read secret variables and credential files from, by default. */
export const DEFAULT_SECRET_NAME = "sluice-credentials";

/**
 * A Kubernetes resource quantity, as the API server parses it (k8s.io/apimachinery's
 * `resource.Quantity`): a decimal number and a binary (Ki..Ei) or decimal (n, u, m, k, M..E)
 * suffix, or an exponent. Anything else (`lots`, `1 GB`, `2cores`) the API server refuses when the
 * pod is created, hours after the DAG was deployed: refused here instead.
 */
const QUANTITY = /^(?:\d+(?:\.\d*)?|\.\d+)(?:Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][-+]?\d+)?$/;

const BINARY: Record<string, number> = {
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};
const DECIMAL: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
};

/** The value of a quantity that matched QUANTITY (cores for cpu, bytes for memory). */
function quantityValue(text: string): number {
  const match = /^([\d.]+)(.*)$/.exec(text)!;
  const number = Number(match[1]);
  const suffix = match[2]!;
  if (suffix === "") return number;
  if (/^[eE]/.test(suffix)) return number * 10 ** Number(suffix.slice(1));
  return number * (BINARY[suffix] ?? DECIMAL[suffix]!);
}

/**
 * The least memory a pod running sluice can have: Node.js with the loader and DuckDB's 48 MB
 * buffer pool peaks at about 150 MB (README, "Speed and memory"). A request below this is almost
 * always a missing suffix (`--memory 512` is 512 bytes).
 */
const MIN_MEMORY_BYTES = 64 * 2 ** 20;

/** A DNS-1123 label: namespaces. */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** A DNS-1123 subdomain: Secrets, service accounts. */
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/**
 * Checks the options of `sluice deploy` that Kubernetes would otherwise refuse only when a pod is
 * created: every problem at once, each naming its option and what to write instead.
 */
export function checkPodOptions(options: PodOptions): void {
  const problems: string[] = [];
  if (options.image.trim() === "" || /\s/.test(options.image)) {
    problems.push(
      `--image: "${options.image}" is not an image reference (e.g. europe-docker.pkg.dev/acme/etl/sluice:1.0)`,
    );
  }
  if (options.cpu !== undefined) {
    if (!QUANTITY.test(options.cpu)) {
      problems.push(
        `--cpu: "${options.cpu}" is not a Kubernetes quantity; write cores (1, 0.5) or millicores (500m)`,
      );
    } else if (quantityValue(options.cpu) < 0.001) {
      problems.push(`--cpu: ${options.cpu} is less than the smallest CPU Kubernetes grants (1m); e.g. 500m`);
    }
  }
  if (options.memory !== undefined) {
    if (!QUANTITY.test(options.memory)) {
      problems.push(
        `--memory: "${options.memory}" is not a Kubernetes quantity; write e.g. 512Mi or 1Gi (binary suffixes Ki, Mi, Gi)`,
      );
    } else if (quantityValue(options.memory) < MIN_MEMORY_BYTES) {
      problems.push(
        `--memory: ${options.memory} is ${quantityValue(options.memory)} bytes, too little for sluice (it needs about 150 MB); did you mean ${options.memory}Mi?`,
      );
    }
  }
  const name = (
    option: string,
    value: string | undefined,
    pattern: RegExp,
    max: number,
    what: string,
  ): void => {
    if (value === undefined) return;
    if (value.length > max || !pattern.test(value)) {
      problems.push(
        `${option}: "${value}" is not a valid Kubernetes ${what} (lower-case letters, digits and '-', at most ${max} characters, starting and ending with a letter or digit)`,
      );
    }
  };
  name("--namespace", options.namespace, DNS_LABEL, 63, "namespace");
  name("--secret-name", options.secretName, DNS_SUBDOMAIN, 253, "Secret name");
  name("--service-account", options.serviceAccount, DNS_SUBDOMAIN, 253, "service account name");
  if (problems.length > 0) throw new ConfigError(problems);
}
