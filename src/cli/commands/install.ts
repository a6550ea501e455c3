import path from "node:path";
import type { Command } from "commander";
import { ConfigError, PipelineError, messageOf } from "../../errors.js";
import type { PluginKind } from "../../connectors/external-singer/plugin-installer.js";
import type { MapperEntry, PluginEntry, ProjectFile } from "../../project/project-file.js";
import type { Wrap } from "../program.js";

interface InstallCandidate {
  name: string;
  type: PluginKind;
  builtin: boolean;
  pipUrl: string | undefined;
  /**
   * Whose virtualenv it uses: a plugin that inherits its `pip_url` shares the venv of the plugin
   * that sets it (as in Meltano), so variants of one tap are installed once.
   */
  venvOwner: string;
}

export function registerInstallCommand(program: Command, wrap: Wrap): void {
  program
    .command("install")
    .description(
      "Install external Singer plugins: each plugin's pip_url into its own virtualenv under .sluice/plugins/",
    )
    .argument("[plugins...]", "plugin names (default: every plugin that runs as an external process)")
    .action(
      wrap(async (context, names: string[]) => {
        const project = await context.openProject();
        const { findBuiltinPlugin, installPlugin, runsBuiltIn } = await context.runtime();
        const candidates = [
          ...installCandidates(
            project.loaded.project.plugins,
            (name) => findBuiltinPlugin(name) !== undefined,
          ),
          ...project.loaded.project.plugins.mappers.map((mapper) =>
            mapperCandidate(project.loaded.project, mapper, runsBuiltIn),
          ),
        ];
        const chosen = names.length > 0 ? names.map((name) => find(candidates, name)) : candidates;
        const failures: string[] = [];
        const installed = new Set<string>();
        for (const plugin of chosen) {
          if (plugin.builtin) {
            context.output.info(`${plugin.name}: built in, nothing to install`);
            continue;
          }
          if (!plugin.pipUrl) {
            context.output.info(
              `${plugin.name}: no pip_url; it runs its \`executable\` (or its name on PATH)`,
            );
            continue;
          }
          const venvKey = `${plugin.type}:${plugin.venvOwner}`;
          if (installed.has(venvKey)) {
            context.output.info(
              `${plugin.name}: uses the virtualenv of ${plugin.venvOwner}, installed above`,
            );
            continue;
          }
          installed.add(venvKey);
          context.output.info(
            `${plugin.name}: installing ${plugin.pipUrl}${plugin.venvOwner !== plugin.name ? ` (the virtualenv of ${plugin.venvOwner})` : ""}`,
          );
          try {
            const result = await installPlugin({
              projectDir: project.loaded.dir,
              type: plugin.type,
              name: plugin.venvOwner,
              pipUrl: plugin.pipUrl,
            });
            context.output.info(
              `${plugin.name}: installed in ${result.seconds.toFixed(1)} s (${path.relative(project.loaded.dir, result.venv)})`,
            );
          } catch (error) {
            context.output.error(messageOf(error));
            failures.push(plugin.name);
          }
        }
        if (failures.length > 0) {
          throw new PipelineError(`could not install ${failures.join(", ")} (see above)`);
        }
      }),
    );
}

/**
 * Every extractor and loader with whether it runs built in (the same rule as a run: a built-in
 * name, unless `builtin: false` or an `executable` on it or a parent) and its `pip_url` (its own
 * or a parent's).
 */
function installCandidates(
  plugins: { extractors: PluginEntry[]; loaders: PluginEntry[] },
  isBuiltin: (name: string) => boolean,
): InstallCandidate[] {
  const out: InstallCandidate[] = [];
  for (const [type, entries] of [
    ["extractor", plugins.extractors],
    ["loader", plugins.loaders],
  ] as const) {
    for (const entry of entries) {
      const chain: PluginEntry[] = [entry];
      for (let parent = entry.inherit_from; parent !== undefined && chain.length < 20;) {
        const found = entries.find((e) => e.name === parent);
        if (!found) break;
        chain.push(found);
        parent = found.inherit_from;
      }
      const root = chain[chain.length - 1]!;
      const baseName = root.inherit_from ?? root.name;
      const builtinFlag = chain.find((e) => e.builtin !== undefined)?.builtin;
      out.push({
        name: entry.name,
        type,
        builtin: builtinFlag ?? (isBuiltin(baseName) && chain.every((e) => e.executable === undefined)),
        pipUrl: chain.find((e) => e.pip_url !== undefined)?.pip_url,
        venvOwner: chain.find((e) => e.pip_url !== undefined)?.name ?? entry.name,
      });
    }
  }
  return out;
}

/**
 * A mapper: built in when its mappings run without a process (meltano-map-transformer, see
 * `runsBuiltIn`), else its `pip_url` (its own or the mapper's it inherits from) installed as a
 * plugin's is.
 */
function mapperCandidate(
  project: ProjectFile,
  mapper: MapperEntry,
  runsBuiltIn: (project: ProjectFile, mapper: MapperEntry) => boolean,
): InstallCandidate {
  const parent = project.plugins.mappers.find((m) => m.name === mapper.inherit_from);
  const owner = mapper.pip_url !== undefined ? mapper : parent?.pip_url !== undefined ? parent : mapper;
  return {
    name: mapper.name,
    type: "mapper",
    builtin: runsBuiltIn(project, mapper),
    pipUrl: owner.pip_url,
    venvOwner: owner.name,
  };
}

function find(candidates: InstallCandidate[], name: string): InstallCandidate {
  const found = candidates.find((c) => c.name === name);
  if (!found) {
    throw new ConfigError(
      `no plugin "${name}" in the project (plugins: ${candidates.map((c) => c.name).join(", ") || "none"})`,
    );
  }
  return found;
}
