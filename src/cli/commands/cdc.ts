import type { Command } from "commander";
import { ConfigError } from "../../errors.js";
import type { Wrap } from "../program.js";

/** `sluice cdc status|teardown <extractor>`: the replication slot LOG_BASED streams read. */
export function registerCdcCommand(program: Command, wrap: Wrap): void {
  const cdc = program
    .command("cdc")
    .description("Change data capture (LOG_BASED): inspect or remove the replication slot");
  cdc
    .command("status")
    .description("Show the replication slot, its confirmed position and the WAL it holds back")
    .argument("<extractor>", "extractor plugin name, e.g. tap-postgres")
    .action(
      wrap(async (context, name: string) => {
        const project = await context.openProject();
        const { createExtractor, resolvePluginForRun } = await context.runtime();
        const extractor = await createExtractor(
          project,
          await resolvePluginForRun(project, name, "extractor"),
        );
        if (!extractor.changeCaptureStatus) throw new ConfigError(`${name} has no change data capture`);
        try {
          const status = await extractor.changeCaptureStatus();
          if (context.output.format === "json") {
            context.output.result(JSON.stringify(status));
          } else if (!status.exists) {
            context.output.result(`slot ${status.slot}: does not exist (the next LOG_BASED run creates it)`);
          } else {
            context.output.result(
              [
                `slot ${status.slot}: ${status.lost ? "LOST (WAL removed; the next run copies the tables again)" : status.active ? "streaming" : "idle"}`,
                `confirmed position: ${status.confirmedPosition ?? "none"}`,
                `WAL held back: ${((status.retainedBytes ?? 0) / 1048576).toFixed(1)} MB`,
                `publication: ${status.publication}`,
              ].join("\n"),
            );
          }
        } finally {
          await extractor.close();
        }
      }),
    );
  cdc
    .command("teardown")
    .description(
      "Drop the replication slot (the server stops keeping WAL for it) and the publication sluice made",
    )
    .argument("<extractor>", "extractor plugin name, e.g. tap-postgres")
    .action(
      wrap(async (context, name: string) => {
        const project = await context.openProject();
        const { createExtractor, resolvePluginForRun } = await context.runtime();
        const extractor = await createExtractor(
          project,
          await resolvePluginForRun(project, name, "extractor"),
        );
        if (!extractor.teardownChangeCapture) throw new ConfigError(`${name} has no change data capture`);
        try {
          const removed = await extractor.teardownChangeCapture();
          context.output.result(
            removed.length === 0
              ? "nothing to remove"
              : `removed ${removed.join(" and ")}; the next LOG_BASED run creates a new slot and copies its tables again`,
          );
        } finally {
          await extractor.close();
        }
      }),
    );
}
