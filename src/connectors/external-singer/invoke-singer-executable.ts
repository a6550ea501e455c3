import { spawn } from "node:child_process";
import os from "node:os";
import type { Catalog } from "../../protocol/catalog.js";
import { ConfigError, PipelineError } from "../../errors.js";
import type { ExternalPlugin } from "./external-plugin.js";
import { PluginFiles } from "./singer-process.js";

/** Signals sluice passes on to the plugin while it runs, as a shell would to its job. */
const FORWARDED_SIGNALS: readonly NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];

/**
 * Runs an external Singer executable as `meltano invoke` does: `<exe> --config <file>` (plus
 * `--catalog`/`--properties <file>` when a catalog is given), then the user's own arguments. Its
 * stdin and stdout are sluice's own, untouched (records and messages pass through); its stderr is
 * passed on line by line with the project's secrets redacted. The config file is written to a
 * private folder (0700, the file 0600) and removed when the process ends, however it ends;
 * SIGINT, SIGTERM and SIGHUP sent to sluice meanwhile are passed on to it.
 *
 * Resolves with the exit code to leave with: the plugin's, or 128 + the signal's number when a
 * signal ended it (as a shell reports it).
 */
export async function invokeSingerExecutable(
  plugin: ExternalPlugin,
  options: { args: readonly string[]; catalog?: Catalog },
): Promise<number> {
  const files = new PluginFiles(plugin.name);
  const forward = (signal: NodeJS.Signals): void => {
    child.kill(signal);
  };
  const redact = plugin.redact ?? ((text: string) => text);
  let child: ReturnType<typeof spawn>;
  try {
    const args = ["--config", files.write("config.json", plugin.config)];
    if (options.catalog) {
      const propertiesOnly =
        plugin.capabilities?.includes("properties") === true && !plugin.capabilities.includes("catalog");
      args.push(propertiesOnly ? "--properties" : "--catalog", files.write("catalog.json", options.catalog));
    }
    args.push(...options.args);
    child = spawn(plugin.executable, args, {
      env: { ...process.env, ...plugin.env },
      ...(plugin.cwd ? { cwd: plugin.cwd } : {}),
      stdio: ["inherit", "inherit", "pipe"],
    });
    for (const signal of FORWARDED_SIGNALS) process.on(signal, forward);
    let partial = "";
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
      const lines = (partial + chunk).split("\n");
      partial = lines.pop() ?? "";
      if (lines.length > 0) process.stderr.write(redact(lines.join("\n")) + "\n");
    });
    const ended = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(
      (resolve, reject) => {
        child.on("error", reject);
        child.on("close", (code, signal) => resolve({ code, signal }));
      },
    );
    if (partial !== "") process.stderr.write(redact(partial) + "\n");
    if (ended.code !== null) return ended.code;
    const number = ended.signal ? os.constants.signals[ended.signal] : undefined;
    return 128 + (number ?? 1);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "EACCES") {
      throw new ConfigError(
        `${plugin.name}: cannot run "${plugin.executable}" (${code === "ENOENT" ? "not found" : "not executable"}): run \`sluice install ${plugin.name}\`, or set the plugin's \`executable\``,
        { cause: error },
      );
    }
    throw new PipelineError(`${plugin.name}: could not start: ${(error as Error).message}`, {
      cause: error,
    });
  } finally {
    for (const signal of FORWARDED_SIGNALS) process.off(signal, forward);
    files.remove();
  }
}
