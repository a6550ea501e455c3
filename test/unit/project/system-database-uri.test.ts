import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { ConfigError } from "../../../src/errors.js";
import type { ProjectFile } from "../../../src/project/project-file.js";
import {
  parseStoreUri,
  passwordOfUri,
  redactUri,
  resolveStateBackend,
  resolveSystemDatabase,
} from "../../../src/project/system-database-uri.js";
import { configErrorOf } from "./project-test-support.js";

const projectDir = "/srv/project";

function project(extra: Partial<ProjectFile> = {}): ProjectFile {
  return {
    plugins: { extractors: [], loaders: [], mappers: [] },
    environments: [],
    schedules: [],
    jobs: [],
    env: {},
    include_paths: [],
    ...extra,
  };
}

describe("resolveSystemDatabase", () => {
  test("defaults to .sluice/sluice.db in the project folder", () => {
    expect(resolveSystemDatabase({ project: project(), projectDir, env: {} })).toEqual({
      kind: "sqlite",
      path: join(projectDir, ".sluice/sluice.db"),
    });
  });

  test("reads database_uri, expanding Meltano's $MELTANO_PROJECT_ROOT default", () => {
    const location = resolveSystemDatabase({
      project: project({ database_uri: "sqlite:///$MELTANO_PROJECT_ROOT/.meltano/meltano.db" }),
      projectDir,
      env: { MELTANO_PROJECT_ROOT: projectDir },
    });
    expect(location).toEqual({ kind: "sqlite", path: "/srv/project/.meltano/meltano.db" });
  });

  test("SLUICE_DATABASE_URI wins over MELTANO_DATABASE_URI, which wins over the file", () => {
    const file = project({ database_uri: "sqlite:///from-file.db" });
    const both = {
      SLUICE_DATABASE_URI: "postgresql://a@h/sluice",
      MELTANO_DATABASE_URI: "postgresql://a@h/meltano",
    };
    expect(resolveSystemDatabase({ project: file, projectDir, env: both })).toEqual({
      kind: "postgres",
      url: "postgresql://a@h/sluice",
    });
    expect(
      resolveSystemDatabase({
        project: file,
        projectDir,
        env: { MELTANO_DATABASE_URI: "postgresql+psycopg2://a@h/m" },
      }),
    ).toEqual({ kind: "postgres", url: "postgresql://a@h/m" });
  });
});

describe("resolveStateBackend", () => {
  test("is the system database by default and for Meltano's `systemdb`", () => {
    const expected = { kind: "sqlite", path: join(projectDir, ".sluice/sluice.db") };
    expect(resolveStateBackend({ project: project(), projectDir, env: {} })).toEqual(expected);
    expect(
      resolveStateBackend({ project: project({ state_backend: { uri: "systemdb" } }), projectDir, env: {} }),
    ).toEqual(expected);
  });

  test("reads a postgres URI with the password from the environment", () => {
    const location = resolveStateBackend({
      project: project({
        state_backend: { uri: "postgres://meltano:${STATE_DB_PASSWORD}@10.0.0.3:5432/statedb" },
      }),
      projectDir,
      env: { STATE_DB_PASSWORD: "st@te-pw" },
    });
    expect(location).toEqual({
      kind: "postgres",
      url: "postgresql://meltano:st@te-pw@10.0.0.3:5432/statedb",
    });
  });

  test("reads file:// folders, absolute or relative to the project", () => {
    const at = (uri: string) =>
      resolveStateBackend({ project: project({ state_backend: { uri } }), projectDir, env: {} });
    expect(at("file:///var/lib/sluice/state")).toEqual({ kind: "file", dir: "/var/lib/sluice/state" });
    expect(at("file://state")).toEqual({ kind: "file", dir: "/srv/project/state" });
    expect(at("sqlite:////abs/state.db")).toEqual({ kind: "sqlite", path: "/abs/state.db" });
  });

  test("an unknown scheme is a ConfigError naming state_backend.uri, with the password hidden", () => {
    const error = configErrorOf(() =>
      resolveStateBackend({
        project: project({ state_backend: { uri: "mysql://state:my-db-pass@host/state" } }),
        projectDir,
        env: {},
      }),
    );
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toBe(
      "state_backend.uri: unsupported URI mysql://state:********@host/state; use postgresql://..., sqlite:///<path> or file://<folder>",
    );
    expect(error.message).not.toContain("my-db-pass");
  });

  test("names the environment variable the URI came from, and an unset variable in it", () => {
    expect(
      configErrorOf(() =>
        resolveStateBackend({
          project: project(),
          projectDir,
          env: { SLUICE_STATE_BACKEND_URI: "gs://b/s" },
        }),
      ).message,
    ).toMatch(/^environment variable SLUICE_STATE_BACKEND_URI: unsupported URI gs:\/\/b\/s/);
    expect(
      configErrorOf(() =>
        resolveStateBackend({
          project: project({ state_backend: { uri: "postgresql://u:$PW@h/db" } }),
          projectDir,
          env: {},
        }),
      ).message,
    ).toBe("state_backend.uri: environment variable PW is not set");
  });
});

describe("parseStoreUri and redactUri", () => {
  test("the system database cannot be a folder", () => {
    expect(
      configErrorOf(() =>
        resolveSystemDatabase({ project: project({ database_uri: "file:///tmp/x" }), projectDir, env: {} }),
      ).message,
    ).toContain("database_uri: the system database must be sqlite:// or postgresql://");
  });

  test("rejects text that is no URI", () => {
    expect(() => parseStoreUri("statedb", "state_backend.uri", projectDir)).toThrow(ConfigError);
  });

  test("hides user-info passwords and password parameters only", () => {
    expect(redactUri("postgresql://u:p%40ss@h:5432/db?sslmode=require&password=x2")).toBe(
      "postgresql://u:********@h:5432/db?sslmode=require&password=********",
    );
    expect(redactUri("postgresql://u@h/db")).toBe("postgresql://u@h/db");
  });

  test("passwordOfUri gives the decoded password to register as a secret", () => {
    expect(passwordOfUri("postgresql://u:p%40ss@h:5432/db")).toBe("p@ss");
    expect(passwordOfUri("postgresql://u@h/db")).toBeUndefined();
  });
});
