import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { builtinPlugins, findBuiltinPlugin } from "../../../src/connectors/registry.js";
import { checkSingerConfig } from "../../../src/connectors/singer/singer-config.js";
import { upstreamInventories } from "../../../src/connectors/upstream-settings/upstream-settings.js";
import { readProjectFile } from "../../../src/project/project-file.js";
import { resolvePluginConfig } from "../../../src/project/plugin-config.js";
import { problemsOf, projectDirWith } from "./project-test-support.js";

/** Resolves `plugin` of a project whose only plugin of its kind is configured with `config`. */
function resolveWith(plugin: string, config: Record<string, unknown>, env: Record<string, string> = {}) {
  const kind = plugin.startsWith("tap-") ? "extractors" : "loaders";
  const yaml = JSON.stringify({ plugins: { [kind]: [{ name: plugin, config }] } });
  const projectDir = projectDirWith({ "sluice.yml": yaml });
  const project = readProjectFile(join(projectDir, "sluice.yml"));
  return resolvePluginConfig({
    project,
    projectDir,
    pluginName: plugin,
    env,
    dotEnv: {},
    lookup: findBuiltinPlugin,
  });
}

const PG_TARGET = { host: "wh", user: "loader", dbname: "warehouse" };
const BQ = { project_id: "p", dataset_id: "d" };

describe("the settings inventory", () => {
  test("covers every built-in plugin, with the documentation of each variant", () => {
    expect(upstreamInventories.map((inventory) => inventory.plugin).sort()).toEqual(
      builtinPlugins.map((plugin) => plugin.name).sort(),
    );
    for (const inventory of upstreamInventories) {
      expect(inventory.sources.length).toBeGreaterThan(0);
      for (const source of inventory.sources) expect(source.docs).toMatch(/^https:\/\//);
    }
  });

  test("names each setting once, and every setting it maps to is one the built-in has", () => {
    for (const inventory of upstreamInventories) {
      const names = inventory.settings.map((setting) => setting.name);
      expect(new Set(names).size, inventory.plugin).toBe(names.length);
      const own = findBuiltinPlugin(inventory.plugin)!.settings.map((setting) => setting.name);
      for (const setting of inventory.settings) {
        const decision = setting.decision;
        if (decision.kind === "sluice" || decision.kind === "mapped")
          expect(own, `${inventory.plugin} ${setting.name}`).toContain(decision.setting);
        // A name sluice itself has cannot be cosmetic or refused: sluice's meaning wins.
        else expect(own, `${inventory.plugin} ${setting.name}`).not.toContain(setting.name);
      }
    }
  });
});

describe("settings of other variants in a project", () => {
  test("issue 18's settings are accepted, each with one warning that names it and says why", () => {
    const bigquery = resolveWith("target-bigquery", {
      ...BQ,
      merge_state_messages: true,
      validate_records: true,
    });
    expect(bigquery.notices).toHaveLength(2);
    expect(bigquery.notices[0]).toMatch(
      /^plugins\.loaders\[0\]\.config\.merge_state_messages: `merge_state_messages` \(target-bigquery variant adswerve\) is accepted and changes nothing: sluice keeps each stream's bookmark/,
    );
    expect(bigquery.notices[1]).toContain("`validate_records`");
    expect(bigquery.config).not.toHaveProperty("merge_state_messages");

    const postgres = resolveWith("target-postgres", {
      ...PG_TARGET,
      batch_size_rows: 50000,
      parallelism: 4,
      flush_all_streams: true,
      validate_records: false,
      primary_key_required: false,
    });
    expect(postgres.notices.map((notice) => notice.match(/`(\w+)(?::[^`]*)?`/)![1])).toEqual([
      "batch_size_rows",
      "parallelism",
      "flush_all_streams",
      "validate_records",
      "primary_key_required",
    ]);
    expect(postgres.notices[4]).toContain("sluice loads a stream without a key by appending its rows");
  });

  test("a semantic setting set to what sluice does not do is refused: setting, variant, what sluice does, what to do", () => {
    expect(
      problemsOf(() => resolveWith("target-postgres", { ...PG_TARGET, primary_key_required: true })),
    ).toEqual([
      "plugins.loaders[0].config.primary_key_required: `primary_key_required: true` (target-postgres variant transferwise) is not supported: sluice loads a stream without a key by appending its rows (a FULL_TABLE copy replaces the table). To run, set primary_key_required: false to accept that, and give keyless tables a key where you need merges (metadata `table-key-properties`, or `view-key-properties` for a view)",
    ]);
    const tunnel = problemsOf(() =>
      resolveWith("tap-postgres", {
        user: "u",
        dbname: "d",
        ssh_tunnel: { enable: true, host: "bastion", private_key: "PRIVATE-KEY-TEXT-xyz" },
      }),
    );
    expect(tunnel).toHaveLength(1);
    expect(tunnel[0]).toContain("`ssh_tunnel` (tap-postgres variant meltanolabs) is not supported");
    expect(tunnel[0]).toContain("ssh -N -L");
    expect(tunnel[0]).not.toContain("PRIVATE-KEY-TEXT-xyz");
    // Disabled, it is what sluice does.
    expect(
      resolveWith("tap-postgres", { user: "u", dbname: "d", ssh_tunnel: { enable: false } }).notices,
    ).toHaveLength(1);
  });

  test("a name no variant knows is an error, with the nearest name of sluice's or a variant's", () => {
    expect(problemsOf(() => resolveWith("target-postgres", { ...PG_TARGET, batch_size_row: 5 }))).toEqual([
      "plugins.loaders[0].config.batch_size_row: unknown setting of target-postgres (did you mean `batch_size_rows`?)",
    ]);
  });

  test("another variant's spelling of a sluice setting is that setting, in the file and as a variable", () => {
    const tap = resolveWith(
      "tap-postgres",
      {
        user: "u",
        database: "orders",
        ssl_enable: true,
        ssl_mode: "verify-full",
        replication_slot_name: "s1",
      },
      { TAP_POSTGRES_DATABASE: "from_env" },
    );
    // meltanolabs reads ssl_mode only with ssl_enable, and so does sluice.
    expect(
      resolveWith("tap-postgres", { user: "u", database: "d", ssl_mode: "verify-full" }).config,
    ).not.toHaveProperty("sslmode");
    expect(tap.config).toMatchObject({
      dbname: "from_env",
      ssl: true,
      sslmode: "verify-full",
      logical_slot_name: "s1",
    });
    expect(tap.notices).toEqual([]);
    const bigquery = resolveWith("target-bigquery", { project: "p", dataset: "d" });
    expect(bigquery.config).toMatchObject({ project_id: "p", dataset_id: "d" });
  });

  test("z3z1ma's upsert and overwrite are sluice's load_method; a conflicting load_method is a problem", () => {
    expect(resolveWith("target-bigquery", { ...BQ, upsert: true, overwrite: true }).config.load_method).toBe(
      "upsert",
    );
    expect(resolveWith("target-bigquery", { ...BQ, upsert: false, overwrite: true }).config.load_method).toBe(
      "overwrite",
    );
    expect(resolveWith("target-bigquery", { ...BQ, upsert: "false" }).config.load_method).toBe("append-only");
    expect(problemsOf(() => resolveWith("target-bigquery", { ...BQ, upsert: ["public-*"] }))[0]).toContain(
      "a list of stream patterns is not supported",
    );
    expect(
      problemsOf(() => resolveWith("target-bigquery", { ...BQ, upsert: true, load_method: "append-only" })),
    ).toEqual([
      'plugins.loaders[0].config.upsert: `upsert` means load_method "upsert", but load_method is set to something else (plugins.loaders[0].config.load_method); remove one of them',
    ]);
  });

  test("meltanolabs' certificate settings take a file; the certificate text itself is refused without being shown", () => {
    const tap = resolveWith("tap-postgres", {
      user: "u",
      dbname: "d",
      ssl_enable: true,
      ssl_certificate_authority: "certs/ca.pem",
    });
    expect(tap.config.sslrootcert).toBe("certs/ca.pem");
    // As in meltanolabs' variant, it is read only with ssl_enable: its default path is no file sluice needs.
    const off = resolveWith("tap-postgres", {
      user: "u",
      dbname: "d",
      ssl_certificate_authority: "~/.postgresql/root.crl",
    });
    expect(off.config).not.toHaveProperty("sslrootcert");
    const pem = "-----BEGIN PRIVATE KEY-----\nMIIsecret\n-----END PRIVATE KEY-----";
    const problems = problemsOf(() =>
      resolveWith("target-postgres", {
        ...PG_TARGET,
        ssl_client_certificate_enable: true,
        ssl_client_private_key: pem,
      }),
    );
    expect(problems[0]).toContain("sluice reads the certificate or key from a file");
    expect(problems.join("\n")).not.toContain("MIIsecret");
  });

  test("sluice target --config judges them the same way", () => {
    const warnings: string[] = [];
    const config = checkSingerConfig(
      findBuiltinPlugin("target-duckdb")!,
      { filepath: "out.duckdb", flush_all_streams: true, add_record_metadata: true },
      "--config c.json",
      (message) => warnings.push(message),
    );
    expect(config).toMatchObject({ path: "out.duckdb", add_metadata_columns: true });
    expect(warnings).toEqual([
      expect.stringMatching(
        /^--config c\.json: flush_all_streams: `flush_all_streams` \(target-duckdb variant jwills\)/,
      ),
    ]);
  });
});
