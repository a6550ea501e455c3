import type { Command } from "commander";
import { ConfigError } from "../../errors.js";
import type { UiServer } from "../../ui/ui-server.js";
import type { CliContext } from "../cli-context.js";
import type { Wrap } from "../program.js";

/** The port `sluice ui` listens on unless told otherwise. */
export const DEFAULT_UI_PORT = 8765;

export function registerUiCommand(program: Command, wrap: Wrap): void {
  program
    .command("ui")
    .description("Serve a local web page of the run history and state, until stopped (Ctrl-C/SIGTERM)")
    .option("--port <n>", "port to listen on (0: any free port)", String(DEFAULT_UI_PORT))
    .option(
      "--host <address>",
      "address to listen on; anything but 127.0.0.1 shows the page to others",
      "127.0.0.1",
    )
    .action(
      wrap(async (context, options: { port: string; host: string }) => {
        const port = parsePort(options.port);
        const project = await context.openProject();
        const { openStores, RunHistoryView, UiServer } = await context.runtime();
        await registerProjectSecrets(context);
        const stores = await openStores(project);
        let server: UiServer;
        try {
          server = await UiServer.start({
            view: new RunHistoryView(stores),
            host: options.host,
            port,
            redact: (text) => context.redactor.redact(text),
          });
        } catch (error) {
          await stores.close();
          throw error;
        }
        try {
          if (!isLoopback(options.host)) {
            context.output.warn(
              `--host ${options.host}: the page has no login; anyone who can reach this address sees the run history and state`,
            );
          }
          // The URL alone on stdout, so that a script can read it; the rest is a log line.
          context.output.result(server.url);
          context.output.info(`sluice ui serving run history at ${server.url} (Ctrl-C or SIGTERM stops it)`, {
            event: "ui-listening",
            url: server.url,
          });
          const signal = await stopSignal();
          context.output.info(`${signal} received: sluice ui stopped`, { event: "ui-stopped" });
        } finally {
          await server.close();
          await stores.close();
        }
      }),
    );
}

function parsePort(text: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65535) {
    throw new ConfigError(`--port: expected a port number from 0 to 65535, got "${text}"`);
  }
  return port;
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * Registers the secrets of every plugin of the project with the redactor, so that a secret that
 * ended up in run history or state (a hand-edited `state set`) is masked in the page like in logs.
 * A plugin whose settings do not resolve is skipped: the page should still open to show why runs failed.
 */
async function registerProjectSecrets(context: CliContext): Promise<void> {
  const projectContext = await context.openProject();
  const { resolvePlugin } = await context.runtime();
  const { project } = projectContext.loaded;
  for (const plugin of [...project.plugins.extractors, ...project.plugins.loaders]) {
    try {
      resolvePlugin(projectContext, plugin.name);
    } catch {
      // Reported by `sluice config` and at run time; nothing of it can be shown here.
    }
  }
}

/** Resolves with the first SIGINT or SIGTERM; a second one quits at once. */
function stopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      process.once("SIGINT", () => process.exit(130));
      process.once("SIGTERM", () => process.exit(143));
      resolve(signal);
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
}
