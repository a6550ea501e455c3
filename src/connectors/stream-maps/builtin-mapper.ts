import type { MapperEntry, MappingEntry, ProjectFile } from "../../project/project-file.js";

/** The mapper whose `stream_maps` sluice runs itself (within the subset of `map-expression.ts`). */
export const BUILTIN_MAPPER = "meltano-map-transformer";

/**
 * Whether a mapper's mappings run built in: meltano-map-transformer (by name, or a mapper that
 * inherits from it), unless `builtin: false` or an `executable` asks for the program itself.
 * Any other mapper runs as an external Singer process.
 */
export function runsBuiltIn(project: ProjectFile, mapper: MapperEntry): boolean {
  const seen = new Set<string>();
  let current: MapperEntry | undefined = mapper;
  while (current && !seen.has(current.name)) {
    seen.add(current.name);
    if (current.builtin === false || current.executable !== undefined) return false;
    if (current.builtin === true) return true;
    const base: string = current.inherit_from ?? current.name;
    if (base === BUILTIN_MAPPER) return true;
    current = project.plugins.mappers.find((m) => m.name === base && m !== current);
  }
  return false;
}

/** The mapper and mapping a `run` block names, if it names a mapping. */
export function findMapping(
  project: ProjectFile,
  name: string,
): { mapper: MapperEntry; mapping: MappingEntry } | undefined {
  for (const mapper of project.plugins.mappers) {
    const mapping = mapper.mappings.find((m) => m.name === name);
    if (mapping) return { mapper, mapping };
  }
  return undefined;
}
