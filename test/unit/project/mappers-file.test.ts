import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { readProjectFile } from "../../../src/project/project-file.js";
import { resolveRunBlocks } from "../../../src/runner/run-blocks.js";
import { configErrorOf, projectDirWith } from "./project-test-support.js";

/** `mappers:` in the project file: read, checked, and named in `run` blocks. */

function readYaml(yaml: string) {
  const dir = projectDirWith({ "sluice.yml": yaml });
  return readProjectFile(join(dir, "sluice.yml"));
}

const PROJECT = `
plugins:
  extractors: [{ name: tap-postgres, config: { host: db, user: etl, dbname: shop } }]
  loaders: [{ name: target-duckdb, config: { path: w.duckdb } }]
  mappers:
    - name: meltano-map-transformer
      variant: meltanolabs
      pip_url: meltano-map-transformer
      config: { stream_map_config: { cut: 3 } }
      mappings:
        - name: hash-pii
          config:
            stream_maps:
              public-customers: { email: md5(email), ssn: __NULL__, __filter__: "country != 'XX'" }
              public-audit: __NULL__
    - name: pii-scrubber
      pip_url: git+https://example.com/scrubber.git
      mappings: [{ name: scrub, config: { anything: goes } }]
`;

describe("mappers in the project file", () => {
  test("are read with their mappings; a mapper's mappings are what run blocks name", () => {
    const project = readYaml(PROJECT);
    expect(project.plugins.mappers).toMatchObject([
      {
        name: "meltano-map-transformer",
        variant: "meltanolabs",
        pip_url: "meltano-map-transformer",
        config: { stream_map_config: { cut: 3 } },
        mappings: [{ name: "hash-pii", location: "plugins.mappers[0].mappings[0]" }],
      },
      { name: "pii-scrubber", mappings: [{ name: "scrub", config: { anything: "goes" } }] },
    ]);
    expect(resolveRunBlocks(project, ["tap-postgres", "hash-pii", "scrub", "target-duckdb"])).toEqual([
      { extractor: "tap-postgres", mappings: ["hash-pii", "scrub"], loader: "target-duckdb" },
    ]);
    expect(resolveRunBlocks(project, ["tap-postgres", "target-duckdb"])).toEqual([
      { extractor: "tap-postgres", loader: "target-duckdb" },
    ]);
  });

  test("a misspelt mapping in a run is refused with a suggestion; a mapping needs a loader after it", () => {
    const project = readYaml(PROJECT);
    expect(
      configErrorOf(() => resolveRunBlocks(project, ["tap-postgres", "hsah-pii", "target-duckdb"])).message,
    ).toBe(
      'sluice run: "hsah-pii" is not a mapping of plugins.mappers (did you mean `hash-pii`?) (mappings: hash-pii, scrub)',
    );
    expect(configErrorOf(() => resolveRunBlocks(project, ["tap-postgres", "hash-pii"])).message).toBe(
      'sluice run: missing the loader after mapping "hash-pii" (loaders: target-duckdb)',
    );
  });

  test("meltano-map-transformer's own program as `executable` (as Meltano's hub writes it) still runs built in", () => {
    const withExecutable = (executable: string) => () =>
      readYaml(`${PROJECT}
    - name: hub-style
      inherit_from: meltano-map-transformer
      executable: ${executable}
      mappings: [{ name: upper, config: { stream_maps: { s: { a: "a.upper()" } } } }]
`);
    expect(configErrorOf(withExecutable("meltano-map-transform")).problems[0]).toContain(
      'plugins.mappers[2].mappings[0]: mapping "upper": stream_maps.s.a: `a.upper()`: methods and attributes',
    );
    // Another program is run as a Singer process: its mappings are its business.
    expect(withExecutable("./bin/my-mapper")().plugins.mappers).toHaveLength(3);
  });

  test("a built-in mapping outside the subset, and clashing names, are refused when the file is read", () => {
    const error = configErrorOf(() =>
      readYaml(`${PROJECT}
    - name: hash-more
      inherit_from: meltano-map-transformer
      mappings:
        - { name: hash-pii, config: { stream_maps: { s: { a: md5(a) } } } }
        - { name: tap-postgres, config: { stream_maps: { s: { a: "a.upper()" } } } }
    - name: own-mapper
      inherit_from: meltano-map-transformer
      builtin: false
      mappings: [{ name: anything, config: { stream_maps: { s: { a: "a.upper()" } } } }]
`),
    );
    expect(error.problems).toEqual([
      'plugins.mappers[2].mappings[0].name: duplicate mapping name "hash-pii"; mapping names must be unique',
      'plugins.mappers[2].mappings[1].name: mapping name "tap-postgres" is also a plugin\'s (plugins.extractors); run blocks name mappings and plugins alike, so names must be unique',
      'plugins.mappers[2].mappings[1]: mapping "tap-postgres": stream_maps.s.a: `a.upper()`: methods and attributes (`x.lower()`, `x.attr`) are not in sluice\'s built-in subset (at character 2); sluice runs md5(), str(), int(), float(), bool(), comparisons, and/or/not, is None and arithmetic built in; to run it as Meltano does, set `builtin: false` on the mapper (its pip_url is installed by `sluice install` and run as a Singer process)',
    ]);
  });
});
