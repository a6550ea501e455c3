import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve as resolvePath } from "node:path";
import { describe, expect, test } from "vitest";
import { resolvePluginConfig } from "../../../src/project/plugin-config.js";
import { loadProject } from "../../../src/project/project-file.js";
import { initProject } from "../../../src/project/project-template.js";
import { builtinLookup, configErrorOf, problemsOf, projectDirWith } from "./project-test-support.js";

describe("initProject", () => {
  test("writes a sluice.yml that reads and resolves, and .gitignore lines", () => {
    const dir = join(projectDirWith({}), "analytics");
    const result = initProject(dir);
    expect(result.projectFile).toBe(join(dir, "sluice.yml"));
    expect(readFileSync(join(dir, ".gitignore"), "utf8")).toBe(".sluice/\n.env\n");

    const { project } = loadProject(dir);
    expect(project.default_environment).toBe("dev");
    expect(project.environments.map((environment) => environment.name)).toEqual(["dev", "prod"]);
    const resolve = (pluginName: string, environment: string, env: Record<string, string>) =>
      resolvePluginConfig({
        project,
        projectDir: dir,
        pluginName,
        environment,
        env,
        dotEnv: {},
        lookup: builtinLookup,
      });

    const tap = resolve("tap-postgres", "dev", { TAP_POSTGRES_PASSWORD: "local-pw" });
    expect(tap).toMatchObject({
      builtin: true,
      variant: "transferwise",
      pipUrl: "pipelinewise-tap-postgres",
    });
    expect(tap.config.password).toBe("local-pw");
    const target = resolve("target-duckdb", "dev", {});
    expect(target.config.path).toBe("output/warehouse.duckdb");

    expect(problemsOf(() => resolve("tap-postgres", "prod", {}))).toEqual([
      "environments[1].config.plugins.extractors[0].config.host: environment variable PROD_POSTGRES_HOST is not set (set it in the environment or in .env)",
      "plugins.extractors[0].config.password: environment variable TAP_POSTGRES_PASSWORD is not set (set it in the environment or in .env)",
    ]);
    // The first line points editors at the schema this installation ships (yaml-language-server).
    const [modeline, title] = readFileSync(result.projectFile, "utf8").split("\n");
    const schemaPath = /^# yaml-language-server: \$schema=(\S+)$/.exec(modeline!)![1]!;
    expect(existsSync(resolvePath(dir, schemaPath))).toBe(true);
    expect(resolvePath(dir, schemaPath)).toBe(resolvePath("schema/sluice.schema.json"));
    expect(title).toMatch(/^# analytics: a sluice project/);
  });

  test("uses the given name and appends to an existing .gitignore only what is missing", () => {
    const dir = projectDirWith({ ".gitignore": "node_modules/\n.env" });
    initProject(dir, { name: "orders-pipeline" });
    expect(readFileSync(join(dir, ".gitignore"), "utf8")).toBe("node_modules/\n.env\n.sluice/\n");
    expect(readFileSync(join(dir, "sluice.yml"), "utf8")).toMatch(
      /^# yaml-language-server: .*\n# orders-pipeline: /,
    );
  });

  test("refuses to touch a folder that already has a project file", () => {
    const dir = projectDirWith({ "meltano.yml": "version: 1\n" });
    expect(configErrorOf(() => initProject(dir)).message).toContain("meltano.yml already exists");
    writeFileSync(join(dir, "sluice.yml"), "# mine\n");
    expect(configErrorOf(() => initProject(dir)).exitCode).toBe(2);
    expect(readFileSync(join(dir, "sluice.yml"), "utf8")).toBe("# mine\n");
  });
});
