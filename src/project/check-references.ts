import { runsBuiltIn } from "../connectors/stream-maps/builtin-mapper.js";
import { compileMapping } from "../connectors/stream-maps/stream-maps-config.js";
import { suggestionSuffix } from "./did-you-mean.js";
import { joinPath, type ProblemList } from "./problem-list.js";
import type { ProjectFile } from "./project-file.js";

/**
 * Names must be unique, what a schedule, environment or default names must exist, and a mapping
 * that runs built in must stay inside sluice's subset of stream maps.
 */
export function checkReferences(project: ProjectFile, problems: ProblemList): void {
  const pluginTypeByName = new Map<string, string>();
  for (const type of ["extractors", "loaders", "mappers"] as const) {
    for (const plugin of project.plugins[type]) {
      const previous = pluginTypeByName.get(plugin.name);
      if (previous !== undefined) {
        problems.add(
          joinPath(plugin.location, "name"),
          `duplicate plugin name "${plugin.name}" (already used in plugins.${previous}); plugin names must be unique`,
        );
      } else {
        pluginTypeByName.set(plugin.name, type);
      }
    }
  }
  checkMappings(project, problems, pluginTypeByName);
  for (const [list, what] of [
    [project.environments, "environment"],
    [project.schedules, "schedule"],
    [project.jobs, "job"],
  ] as const) {
    const seen = new Set<string>();
    for (const entry of list) {
      if (seen.has(entry.name))
        problems.add(joinPath(entry.location, "name"), `duplicate ${what} name "${entry.name}"`);
      seen.add(entry.name);
    }
  }
  const environmentNames = project.environments.map((environment) => environment.name);
  if (project.default_environment !== undefined && !environmentNames.includes(project.default_environment)) {
    problems.add(
      "default_environment",
      `no environment named "${project.default_environment}"${existingList("environments", environmentNames)}`,
    );
  }
  const names = (type: "extractors" | "loaders"): string[] =>
    project.plugins[type].map((plugin) => plugin.name);
  for (const environment of project.environments) {
    for (const type of ["extractors", "loaders"] as const) {
      for (const override of environment.config.plugins[type]) {
        if (!names(type).includes(override.name)) {
          problems.add(
            joinPath(override.location, "name"),
            `no ${type.slice(0, -1)} named "${override.name}" in plugins.${type}${suggestionSuffix(override.name, names(type))}`,
          );
        }
      }
    }
    // A mapper's override names the mapper or one of its mappings.
    const mapperNames = project.plugins.mappers.flatMap((mapper) => [
      mapper.name,
      ...mapper.mappings.map((mapping) => mapping.name),
    ]);
    for (const override of environment.config.plugins.mappers) {
      if (!mapperNames.includes(override.name)) {
        problems.add(
          joinPath(override.location, "name"),
          `no mapper or mapping named "${override.name}" in plugins.mappers${suggestionSuffix(override.name, mapperNames)}`,
        );
      }
    }
  }
  const jobNames = project.jobs.map((job) => job.name);
  for (const schedule of project.schedules) {
    if (schedule.job !== undefined && !jobNames.includes(schedule.job)) {
      problems.add(
        joinPath(schedule.location, "job"),
        `no job named "${schedule.job}"${existingList("jobs", jobNames)}`,
      );
    }
    for (const [key, type] of [
      ["extractor", "extractors"],
      ["loader", "loaders"],
    ] as const) {
      const name = schedule[key];
      if (name !== undefined && !names(type).includes(name)) {
        problems.add(
          joinPath(schedule.location, key),
          `no ${key} named "${name}" in plugins.${type}${suggestionSuffix(name, names(type))}`,
        );
      }
    }
  }
}

/**
 * A mapping's name is what `run` blocks and job tasks name, so it must not be a plugin's or another
 * mapping's; a mapping of meltano-map-transformer that runs built in is compiled here, so that one
 * outside the subset is refused by `sluice config` and before any run.
 */
function checkMappings(
  project: ProjectFile,
  problems: ProblemList,
  pluginTypeByName: ReadonlyMap<string, string>,
): void {
  const mappingNames = new Set<string>();
  for (const mapper of project.plugins.mappers) {
    const builtIn = runsBuiltIn(project, mapper);
    for (const mapping of mapper.mappings) {
      const where = joinPath(mapping.location, "name");
      const pluginType = pluginTypeByName.get(mapping.name);
      if (pluginType !== undefined) {
        problems.add(
          where,
          `mapping name "${mapping.name}" is also a plugin's (plugins.${pluginType}); run blocks name mappings and plugins alike, so names must be unique`,
        );
      } else if (mappingNames.has(mapping.name)) {
        problems.add(where, `duplicate mapping name "${mapping.name}"; mapping names must be unique`);
      }
      mappingNames.add(mapping.name);
      if (builtIn) {
        const config = { ...mapper.config, ...mapping.config };
        for (const problem of compileMapping(mapping.name, config).problems)
          problems.add(mapping.location, problem);
      }
    }
  }
}

function existingList(what: string, names: readonly string[]): string {
  return names.length === 0 ? ` (the project defines no ${what})` : ` (${what}: ${names.join(", ")})`;
}
