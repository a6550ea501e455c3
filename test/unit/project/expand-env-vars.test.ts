import { describe, expect, test } from "vitest";
import { projectEnv, readEnvFile } from "../../../src/project/env-file.js";
import { expandEnvVars, type UnsetVariable } from "../../../src/project/expand-env-vars.js";
import { projectDirWith } from "./project-test-support.js";

describe("expandEnvVars", () => {
  const env = { HOST: "db.internal", PORT: "5432", EMPTY: "" };

  test("replaces $VAR and ${VAR}, next to other text", () => {
    expect(expandEnvVars("$HOST:${PORT}/x", env, "p")).toBe("db.internal:5432/x");
    expect(expandEnvVars("${HOST}suffix", env, "p")).toBe("db.internalsuffix");
    expect(expandEnvVars("[$EMPTY]", env, "p")).toBe("[]");
  });

  test("recurses into lists and mappings, leaving other values alone", () => {
    expect(expandEnvVars({ a: ["$HOST", 1, true, null], b: { c: "${PORT}" } }, env, "p")).toEqual({
      a: ["db.internal", 1, true, null],
      b: { c: "5432" },
    });
  });

  test("reports each unset variable with the path of the value holding it", () => {
    const unset: UnsetVariable[] = [];
    const expanded = expandEnvVars(
      { list: ["ok", "$MISSING_ONE"], nested: { x: "${MISSING_TWO}!" } },
      env,
      "cfg",
      unset,
    );
    expect(expanded).toEqual({ list: ["ok", ""], nested: { x: "!" } });
    expect(unset).toEqual([
      { path: "cfg.list[1]", variable: "MISSING_ONE" },
      { path: "cfg.nested.x", variable: "MISSING_TWO" },
    ]);
  });

  test("escapes: $$ and \\$ are a literal $; a $ before a non-name stays", () => {
    expect(expandEnvVars("$$HOST \\$HOST $1 $ ${", env, "p")).toBe("$HOST $HOST $1 $ ${");
  });
});

describe(".env and the project's variables", () => {
  test("readEnvFile parses .env without touching process.env", () => {
    const dir = projectDirWith({ ".env": '# comment\nSLUICE_TEST_FROM_DOTENV=one\nQUOTED="two words"\n' });
    expect(readEnvFile(dir)).toEqual({ SLUICE_TEST_FROM_DOTENV: "one", QUOTED: "two words" });
    expect(process.env.SLUICE_TEST_FROM_DOTENV).toBeUndefined();
    expect(readEnvFile(projectDirWith({}))).toEqual({});
  });

  test("projectEnv layers the file's env, .env, then the process environment, and sets the project roots", () => {
    const dir = projectDirWith({ ".env": "A=dotenv\nB=dotenv\n" });
    const env = projectEnv({
      projectDir: dir,
      processEnv: { B: "process", C: undefined, SLUICE_PROJECT_ROOT: "/elsewhere" },
      fileLayers: [{ A: "file", D: "file" }],
    });
    expect(env).toMatchObject({
      A: "dotenv",
      B: "process",
      D: "file",
      SLUICE_PROJECT_ROOT: dir,
      MELTANO_PROJECT_ROOT: dir,
    });
    expect(env).not.toHaveProperty("C");
  });
});
