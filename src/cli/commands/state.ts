import type { Command } from "commander";
import fs from "node:fs";
import { ConfigError } from "../../errors.js";
import type { SingerState } from "../../protocol/state.js";
import type { StateAndRunHistory } from "../../state/open-system-database.js";
import type { CliContext } from "../cli-context.js";
import type { Wrap } from "../program.js";

export function registerStateCommand(program: Command, wrap: Wrap): void {
  const state = program.command("state").description("Read and change the stored Singer state of pipelines");

  state
    .command("list")
    .description("List state ids (optionally matching a glob, e.g. 'dev:*')")
    .argument("[pattern]", "glob where * matches any text")
    .action(
      wrap(async (context, pattern: string | undefined) =>
        withStores(context, async (stores) => {
          const ids = await stores.stateStore.list(pattern);
          context.output.result(
            ids.map((s) => `${s.stateId}\t${s.updatedAt.toISOString()}`).join("\n") || "no state",
          );
        }),
      ),
    );

  state
    .command("get")
    .description("Print the state of a state id as JSON")
    .argument("<state-id>")
    .action(
      wrap(async (context, id: string) =>
        withStores(context, async (stores) => {
          const value = await stores.stateStore.get(id);
          if (!value) throw new ConfigError(`no state is stored for "${id}" (see \`sluice state list\`)`);
          context.output.result(JSON.stringify(value, null, 2));
        }),
      ),
    );

  state
    .command("set")
    .description(
      'Replace the state of a state id with a Singer state ({"bookmarks": ...} or {"singer_state": ...})',
    )
    .argument("<state-id>")
    .argument("[json]", "the state as JSON text; or use --input")
    .option("--input <file>", "read the state from a file")
    .option("--force", "do not ask (required: setting state changes what the next run reads)")
    .action(
      wrap(
        async (
          context,
          id: string,
          json: string | undefined,
          options: { input?: string; force?: boolean },
        ) => {
          if (options.input !== undefined && json !== undefined)
            throw new ConfigError(
              "state set: give the state as an argument or with --input <file>, not both",
            );
          const text = options.input !== undefined ? readStateFile(options.input) : json;
          if (text === undefined)
            throw new ConfigError("state set: give the state as an argument or with --input <file>");
          let parsed: unknown;
          try {
            parsed = JSON.parse(text);
          } catch (error) {
            throw new ConfigError(`state set: the state is not valid JSON: ${(error as Error).message}`);
          }
          const { toSingerState } = await context.runtime();
          let value;
          try {
            value = toSingerState(parsed);
          } catch (error) {
            throw new ConfigError(`state set: ${(error as Error).message}`);
          }
          if (!options.force) throw new ConfigError("state set: add --force to replace the stored state");
          await withStores(context, async (stores) => {
            await stores.stateStore.withLock(id, () => stores.stateStore.set(id, value));
            context.output.info(`state of ${id} replaced`);
          });
        },
      ),
    );

  state
    .command("clear")
    .description("Forget the state of a state id: the next run reloads everything")
    .argument("<state-id>")
    .option("--force", "do not ask (required)")
    .action(
      wrap(async (context, id: string, options: { force?: boolean }) => {
        if (!options.force) throw new ConfigError("state clear: add --force to forget the stored state");
        await withStores(context, async (stores) => {
          const removed = await stores.stateStore.withLock(id, () => stores.stateStore.clear(id));
          context.output.result(removed ? `state of ${id} cleared` : `no state was stored for ${id}`);
        });
      }),
    );

  state
    .command("export")
    .description("Print the states (all, or those matching a glob) in Meltano's export format")
    .argument("[pattern]", "glob where * matches any text")
    .option("--output <file>", "write to a file instead of stdout")
    .action(
      wrap(async (context, pattern: string | undefined, options: { output?: string }) =>
        withStores(context, async (stores) => {
          const states = new Map<string, SingerState>();
          for (const { stateId } of await stores.stateStore.list(pattern)) {
            const value = await stores.stateStore.get(stateId);
            if (value) states.set(stateId, value);
          }
          const { toMeltanoExport } = await context.runtime();
          const text = JSON.stringify(toMeltanoExport(states), null, 2);
          if (options.output) {
            fs.writeFileSync(options.output, `${text}\n`);
            context.output.info(`${states.size} state(s) written to ${options.output}`);
          } else {
            context.output.result(text);
          }
        }),
      ),
    );

  state
    .command("import")
    .description("Store the states of a Meltano export file (`meltano state get` / `sluice state export`)")
    .argument("<file>", "the export file")
    .option("--force", "replace states that exist (required when any does)")
    .action(
      wrap(async (context, file: string, options: { force?: boolean }) => {
        const { fromMeltanoExport } = await context.runtime();
        let states: Map<string, SingerState>;
        try {
          states = fromMeltanoExport(JSON.parse(readStateFile(file, "state import")));
        } catch (error) {
          if (error instanceof ConfigError) throw error;
          throw new ConfigError(`state import: ${file}: ${(error as Error).message}`, { cause: error });
        }
        await withStores(context, async (stores) => {
          const existing = new Set((await stores.stateStore.list()).map((s) => s.stateId));
          const clashes = [...states.keys()].filter((id) => existing.has(id));
          if (clashes.length > 0 && !options.force) {
            throw new ConfigError(
              `state import: ${clashes.join(", ")} already ha${clashes.length === 1 ? "s" : "ve"} state; add --force to replace`,
            );
          }
          for (const [id, value] of states) {
            await stores.stateStore.withLock(id, () => stores.stateStore.set(id, value));
          }
          context.output.result(`imported ${states.size} state(s): ${[...states.keys()].join(", ")}`);
        });
      }),
    );
}

function readStateFile(file: string, command = "state set"): string {
  try {
    return fs.readFileSync(file, "utf8");
  } catch (error) {
    throw new ConfigError(`${command}: cannot read ${file}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

async function withStores<T>(
  context: CliContext,
  fn: (stores: StateAndRunHistory) => Promise<T>,
): Promise<T> {
  const { openStores } = await context.runtime();
  const stores = await openStores(await context.openProject());
  try {
    return await fn(stores);
  } finally {
    await stores.close();
  }
}
