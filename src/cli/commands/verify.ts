import type { Command } from "commander";
import { ConfigError } from "../../errors.js";
import type { StreamVerification } from "../../verify/verify-streams.js";
import type { Wrap } from "../program.js";

export function registerVerifyCommand(program: Command, wrap: Wrap): void {
  program
    .command("verify")
    .description(
      "Compare each selected stream in the source and the warehouse (counts, key-range checksums) and name the keys that differ; exit 1 when they differ or a stream could not be verified",
    )
    .argument("<extractor>", "extractor plugin name, e.g. tap-postgres")
    .argument("<loader>", "loader plugin name, e.g. target-duckdb")
    .option("--select <stream...>", "only these streams (tap_stream_id globs)")
    .option("--format <format>", "text or json", "text")
    .option("--max-differences <n>", "stop naming keys after this many per stream", "1000")
    .action(
      wrap(async (context, extractorName: string, loaderName: string, options: VerifyCliOptions) => {
        if (options.format !== "text" && options.format !== "json") {
          throw new ConfigError(`--format: "${options.format}" is not one of text, json`);
        }
        const maxDifferences = Number(options.maxDifferences);
        if (!Number.isInteger(maxDifferences) || maxDifferences < 1) {
          throw new ConfigError(`--max-differences: "${options.maxDifferences}" is not a positive integer`);
        }
        const project = await context.openProject();
        const { createExtractor, createLoader, planStreams, resolvePluginForRun, verifyStreams } =
          await context.runtime();
        const extractorPlugin = await resolvePluginForRun(project, extractorName, "extractor");
        const loaderPlugin = await resolvePluginForRun(project, loaderName, "loader");
        const extractor = await createExtractor(project, extractorPlugin);
        const loader = await createLoader(project, loaderPlugin);
        try {
          if (!extractor.verifier)
            throw new ConfigError(`${extractorName}: this extractor cannot be verified`);
          if (!loader.verifier) throw new ConfigError(`${loaderName}: this loader cannot be verified`);
          const plans = await planStreams(extractor, extractorPlugin, options.select ?? [], (m) =>
            context.output.warn(m),
          );
          const source = extractor.verifier();
          const warehouse = loader.verifier();
          let results: StreamVerification[];
          try {
            results = await verifyStreams(
              plans.map((p) => p.schema),
              source,
              warehouse,
              { maxDifferences },
            );
          } finally {
            await source.close();
            await warehouse.close();
          }
          const equal = results.every((r) => r.equal);
          context.output.result(
            options.format === "json"
              ? JSON.stringify({ equal, streams: results }, null, 2)
              : results.map(describe).join("\n"),
          );
          return equal ? 0 : 1;
        } finally {
          await extractor.close();
          await loader.close();
        }
      }),
    );
}

interface VerifyCliOptions {
  select?: string[];
  format: string;
  maxDifferences: string;
}

function describe(r: StreamVerification): string {
  if (r.error !== undefined) return `${r.stream}: NOT VERIFIED: ${r.error}`;
  const lines = [
    `${r.stream}: ${r.equal ? "equal" : "DIFFERENT"} (source ${r.sourceRows} rows, warehouse ${r.table ?? "(no table)"} ${r.warehouseRows} rows)`,
  ];
  const key = (k: Record<string, string>): string =>
    Object.entries(k)
      .map(([name, value]) => `${name}=${value}`)
      .join(", ");
  for (const k of r.missing) lines.push(`  missing in warehouse: ${key(k)}`);
  for (const k of r.extra) lines.push(`  extra in warehouse:   ${key(k)}`);
  for (const k of r.changed) lines.push(`  changed:              ${key(k)}`);
  if (r.truncated) lines.push("  (more differences not listed: --max-differences)");
  if (r.note) lines.push(`  ${r.note}`);
  for (const fact of r.notHeld) lines.push(`  not held by the warehouse: ${fact}`);
  if (r.inexactColumns.length > 0) lines.push(`  compared loosely: ${r.inexactColumns.join(", ")}`);
  return lines.join("\n");
}
