import type { MapperEntry, MappingEntry, ProjectFile } from "../../project/project-file.js";

/** The mapper whose `stream_maps` sluice runs itself (within the subset of `map-expression.ts`). */
export const BUILTIN_MAPPER = "meltano-map-transformer";

/**
 * The program meltano-map-transformer's package installs (Meltano's hub entry names it as the
 * plugin's `executable`, so project files carry it): naming it does not ask for the package.
 */
export const BUILTIN_MAPPER_PROGRAM = "meltano-map-transform";

/**
 * Whether a mapper's mappings run built in: meltano-map-transformer (by name, or a mapper that
 * inherits from it), unless `builtin: false` or an `executable` of another program asks for a
 * process. Any other mapper runs as an external Singer process.
 */
export function runsBuiltIn(project: ProjectFile, mapper: MapperEntry): boolean {
  const seen = new Set<string>();
  let current: MapperEntry | undefined = mapper;
  while (current && !seen.has(current.name)) {
    seen.add(current.name);
    const program = current.executable?.split("/").pop();
    const otherProgram =
      program !== undefined && program !== BUILTIN_MAPPER_PROGRAM && program !== BUILTIN_MAPPER;
    if (current.builtin === false || otherProgram) return false;
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
