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
          const value = await stateArgument(context, "state set", json, options.input);
          if (!options.force) throw new ConfigError("state set: add --force to replace the stored state");
          await withStores(context, async (stores) => {
            await stores.stateStore.withLock(id, () => stores.stateStore.set(id, value));
            context.output.info(`state of ${id} replaced`);
          });
        },
      ),
    );

  state
    .command("merge")
    .description(
      "Merge a Singer state into a state id's (as meltano state merge): each stream's bookmark keys given win, the rest stays",
    )
    .argument("<state-id>")
    .argument("[json]", "the state to merge in, as JSON text; or use --input or --from-state-id")
    .option("--input <file>", "read the state to merge in from a file")
    .option("--from-state-id <id>", "merge in the stored state of another state id")
    .action(
      wrap(
        async (
          context,
          id: string,
          json: string | undefined,
          options: { input?: string; fromStateId?: string },
        ) => {
          const { mergedState, slotTieOf } = await context.runtime();
          await withStores(context, async (stores) => {
            let extra: SingerState;
            if (options.fromStateId !== undefined) {
              if (json !== undefined || options.input !== undefined)
                throw new ConfigError("state merge: give one of <json>, --input and --from-state-id");
              const found = await stores.stateStore.get(options.fromStateId);
              if (!found)
                throw new ConfigError(`state merge: no state is stored for "${options.fromStateId}"`);
              extra = found;
            } else {
              extra = await stateArgument(context, "state merge", json, options.input);
            }
            await stores.stateStore.withLock(id, async () => {
              const base = await stores.stateStore.get(id);
              const [baseTie, extraTie] = [slotTieOf(base), slotTieOf(extra)];
              if (extraTie !== undefined && baseTie !== undefined && extraTie !== baseTie) {
                throw new ConfigError(
                  `state merge: ${id} reads replication slot ${describeTie(baseTie)}, the state merged in holds positions of ${describeTie(extraTie)}; positions of one slot mean nothing in another. Merge only bookmarks without an lsn, or --full-refresh those streams`,
                );
              }
              if (options.fromStateId !== undefined && extraTie !== undefined) {
                throw new ConfigError(
                  `state merge: ${options.fromStateId} holds LOG_BASED positions of replication slot ${describeTie(extraTie)}; merged into ${id}, two pipelines would read one slot and the first to run would confirm changes the other never loaded. Use \`sluice state move\` instead`,
                );
              }
              await stores.stateStore.set(id, mergedState(base, extra));
            });
            context.output.result(`state of ${id} merged`);
          });
        },
      ),
    );

  state
    .command("copy")
    .description("Copy the state of one state id to another (replacing it), as meltano state copy")
    .argument("<from-state-id>")
    .argument("<to-state-id>")
    .action(
      wrap(async (context, from: string, to: string) => {
        const { slotTieOf } = await context.runtime();
        if (from === to) throw new ConfigError(`state copy: the two state ids are the same`);
        if (from === to) throw new ConfigError(`state move: the two state ids are the same`);
        await withStores(context, async (stores) => {
          await stores.stateStore.withLock(from, () =>
            stores.stateStore.withLock(to, async () => {
              const value = await stores.stateStore.get(from);
              if (!value) throw new ConfigError(`state copy: no state is stored for "${from}"`);
              const tie = slotTieOf(value);
              if (tie !== undefined) {
                throw new ConfigError(
                  `state copy: ${from} holds LOG_BASED positions of replication slot ${describeTie(tie)}; a copy would make two pipelines read one slot, and the first to run would confirm changes the other never loaded. Use \`sluice state move ${from} ${to}\` (the slot goes with the state), or start ${to} with its own slot (--full-refresh)`,
                );
              }
              await stores.stateStore.set(to, value);
            }),
          );
          context.output.result(`state of ${from} copied to ${to}`);
        });
      }),
    );

  state
    .command("move")
    .description(
      "Move the state of one state id to another, as meltano state move: a LOG_BASED state's replication slot goes with it",
    )
    .argument("<from-state-id>")
    .argument("<to-state-id>")
    .option("--force", "replace a state the target state id already has")
    .action(
      wrap(async (context, from: string, to: string, options: { force?: boolean }) => {
        await withStores(context, async (stores) => {
          await stores.stateStore.withLock(from, () =>
            stores.stateStore.withLock(to, async () => {
              const value = await stores.stateStore.get(from);
              if (!value) throw new ConfigError(`state move: no state is stored for "${from}"`);
              if (!options.force && (await stores.stateStore.get(to)) !== undefined) {
                throw new ConfigError(`state move: ${to} has a state already; add --force to replace it`);
              }
              // NOTE: the state keeps its recorded `replication_slot` (or its pipelinewise-named
              // positions), so the pipeline of `to` reads on from the very slot `from` read.
              await stores.stateStore.set(to, value);
              await stores.stateStore.clear(from);
            }),
          );
          context.output.result(`state of ${from} moved to ${to}`);
        });
      }),
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
    .description(
      "Store the states of an export file (`sluice state export`), or of a Meltano system database (sqlite:///.meltano/meltano.db, postgresql://...)",
    )
    .argument(
      "<file-or-uri>",
      "an export file, or the URI of Meltano's system database (its database_uri; sqlite:/// paths are relative to the project)",
    )
    .option("--force", "replace states that exist (required when any does)")
    .action(
      wrap(async (context, source: string, options: { force?: boolean }) => {
        const states = await statesToImport(context, source);
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

/** The states `state import` stores: from Meltano's system database, or from an export file. */
async function statesToImport(context: CliContext, source: string): Promise<Map<string, SingerState>> {
  const runtime = await context.runtime();
  if (/^(sqlite|postgres|postgresql)(\+[\w-]+)?:\/\//i.test(source)) {
    const password = runtime.passwordOfUri(source);
    if (password) context.redactor.add(password);
    const project = await context.openProject();
    const location = runtime.parseStoreUri(source, "state import", project.loaded.dir);
    if (location.kind === "file")
      throw new ConfigError("state import: a file:// URI is not a Meltano system database");
    return runtime.readMeltanoStates(location);
  }
  try {
    return runtime.fromMeltanoExport(JSON.parse(readStateFile(source, "state import")));
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(`state import: ${source}: ${(error as Error).message}`, { cause: error });
  }
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

/** A state given as JSON text or in a file (`--input`), parsed as a Singer state. */
async function stateArgument(
  context: CliContext,
  command: string,
  json: string | undefined,
  input: string | undefined,
): Promise<SingerState> {
  if (input !== undefined && json !== undefined)
    throw new ConfigError(`${command}: give the state as an argument or with --input <file>, not both`);
  const text = input !== undefined ? readStateFile(input, command) : json;
  if (text === undefined)
    throw new ConfigError(`${command}: give the state as an argument or with --input <file>`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`${command}: the state is not valid JSON: ${(error as Error).message}`);
  }
  const { toSingerState } = await context.runtime();
  try {
    return toSingerState(parsed);
  } catch (error) {
    throw new ConfigError(`${command}: ${(error as Error).message}`);
  }
}

function describeTie(tie: string): string {
  return tie === "unrecorded"
    ? "pipelinewise_<dbname>[_<tap_id>] (positions with no slot recorded)"
    : `"${tie}"`;
}
