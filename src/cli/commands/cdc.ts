import type { Command } from "commander";
import { ConfigError } from "../../errors.js";
import type { ChangeCapturePipeline, ChangeCaptureSlotStatus } from "../../connectors/connector.js";
import { recordedSlotOf, type SingerState } from "../../protocol/state.js";
import { stateIdFor } from "../../project/state-id.js";
import type { ProjectContext } from "../../runner/project-context.js";
import type { Runtime } from "../cli-context.js";
import type { Wrap } from "../program.js";

/**
 * `sluice cdc status|teardown <extractor>`: the replication slots LOG_BASED streams read. Each
 * pipeline (state id) has its own slot: `status` lists them all with the pipelines reading each;
 * `teardown` removes one pipeline's.
 */
export function registerCdcCommand(program: Command, wrap: Wrap): void {
  const cdc = program
    .command("cdc")
    .description("Change data capture (LOG_BASED): inspect or remove the replication slots of pipelines");
  cdc
    .command("status")
    .description(
      "Show every replication slot of sluice in the extractor's database: the pipelines reading it, its confirmed position and the WAL it holds back",
    )
    .argument("<extractor>", "extractor plugin name, e.g. tap-postgres")
    .action(
      wrap(async (context, name: string) => {
        const project = await context.openProject();
        const runtime = await context.runtime();
        const { createExtractor, resolvePluginForRun } = runtime;
        const extractor = await createExtractor(
          project,
          await resolvePluginForRun(project, name, "extractor"),
        );
        if (!extractor.changeCaptureStatus) throw new ConfigError(`${name} has no change data capture`);
        try {
          const pipelines = await storedPipelines(runtime, project, name);
          const { slots } = await extractor.changeCaptureStatus(pipelines);
          if (context.output.format === "json") {
            context.output.result(JSON.stringify({ slots }));
          } else if (slots.length === 0) {
            context.output.result(
              "no replication slot of sluice in this database (each pipeline with LOG_BASED streams creates its own on its first run)",
            );
          } else {
            context.output.result(slots.map(describeSlot).join("\n\n"));
          }
        } finally {
          await extractor.close();
        }
      }),
    );
  cdc
    .command("teardown")
    .description(
      "Drop one pipeline's replication slot (the server stops keeping WAL for it) and the publication sluice made for it; other pipelines' slots stay",
    )
    .argument("<extractor>", "extractor plugin name, e.g. tap-postgres")
    .argument("[loader]", "the pipeline's loader: its state id is <environment>:<extractor>-to-<loader>")
    .option("--state-id <id>", "the pipeline's state id, instead of the one <loader> names")
    .option("--force", "drop the slot even when other pipelines read it too (they copy their tables again)")
    .action(
      wrap(
        async (
          context,
          name: string,
          loaderName: string | undefined,
          options: { stateId?: string; force?: boolean },
        ) => {
          const project = await context.openProject();
          const runtime = await context.runtime();
          const { createExtractor, resolvePlugin, resolvePluginForRun } = runtime;
          const plugin = await resolvePluginForRun(project, name, "extractor");
          if (options.stateId === undefined && loaderName === undefined) {
            throw new ConfigError(
              `cdc teardown: name the pipeline whose slot to drop, as each pipeline has its own: sluice cdc teardown ${name} <loader> (or --state-id <id>); \`sluice cdc status ${name}\` lists the slots and their pipelines`,
            );
          }
          const stateId =
            options.stateId ??
            stateIdFor(
              plugin.environment,
              plugin.name,
              resolvePlugin(project, loaderName!, "loader").name,
              plugin.stateIdSuffix,
            );
          const extractor = await createExtractor(project, plugin);
          if (!extractor.teardownChangeCapture || !extractor.changeCaptureStatus)
            throw new ConfigError(`${name} has no change data capture`);
          try {
            const stored = await storedPipelines(runtime, project, name, stateId);
            const pipeline = stored.find((p) => p.stateId === stateId) ?? { stateId };
            const pipelines = [...stored.filter((p) => p.stateId !== stateId), pipeline];
            // A slot shared by older pipelines (pipelinewise's name, one logical_slot_name):
            // dropping it is not only this pipeline's business.
            const { slots } = await extractor.changeCaptureStatus(pipelines);
            const shared = slots.find((s) => s.exists && s.stateIds.includes(stateId));
            const alsoReading = shared?.stateIds.filter((id) => id !== stateId) ?? [];
            if (shared && alsoReading.length > 0 && !options.force) {
              throw new ConfigError(
                `cdc teardown: replication slot "${shared.slot}" of pipeline ${stateId} is read by ${alsoReading.join(", ")} too; dropping it makes their next runs copy their LOG_BASED tables again. Add --force to drop it anyway`,
              );
            }
            const removed = await extractor.teardownChangeCapture(pipeline);
            context.output.result(
              removed.length === 0
                ? `nothing to remove for pipeline ${stateId}`
                : `removed ${removed.join(" and ")} of pipeline ${stateId} (other pipelines' slots are left as they are); its next LOG_BASED run creates a new slot and copies its tables again`,
            );
          } finally {
            await extractor.close();
          }
        },
      ),
    );
}

function pipelineOf(stateId: string, state: SingerState | undefined): ChangeCapturePipeline {
  const recordedSlot = recordedSlotOf(state);
  return {
    stateId,
    ...(recordedSlot !== undefined ? { recordedSlot } : {}),
    ...(state ? { bookmarks: state.bookmarks } : {}),
  };
}

/**
 * The stored pipelines that may read a slot of `extractor`: any state that recorded its slot
 * (the name says which), and states named after the extractor (`...<extractor>-to-...`), whose
 * slot follows from the name rules. Others (another extractor's, unrecorded) would only be
 * guessed at. `include`: a state id taken whatever its name (the one a command names).
 */
async function storedPipelines(
  { openStores }: Runtime,
  project: ProjectContext,
  extractor: string,
  include?: string,
): Promise<ChangeCapturePipeline[]> {
  const stores = await openStores(project);
  try {
    const pipelines: ChangeCapturePipeline[] = [];
    for (const { stateId } of await stores.stateStore.list()) {
      const state = await stores.stateStore.get(stateId);
      const namedAfter = stateId.split(":").some((part) => part.startsWith(`${extractor}-to-`));
      if (recordedSlotOf(state) !== undefined || namedAfter || stateId === include)
        pipelines.push(pipelineOf(stateId, state));
    }
    return pipelines;
  } finally {
    await stores.close();
  }
}

function describeSlot(slot: ChangeCaptureSlotStatus): string {
  const state = !slot.exists
    ? "does not exist (the next LOG_BASED run creates it)"
    : slot.lost
      ? "LOST (WAL removed; the next run copies the tables again)"
      : slot.active
        ? "streaming"
        : "idle";
  const lines = [
    `slot ${slot.slot}: ${state}`,
    `  pipeline: ${slot.stateIds.length > 0 ? slot.stateIds.join(", ") : "none of this project's states reads it"}`,
  ];
  if (slot.exists) {
    lines.push(
      `  confirmed position: ${slot.confirmedPosition ?? "none"}`,
      `  WAL held back: ${((slot.retainedBytes ?? 0) / 1048576).toFixed(1)} MB`,
    );
  }
  lines.push(`  publication: ${slot.publication}`);
  return lines.join("\n");
}
