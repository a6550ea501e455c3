import fs from "node:fs";
import { fileURLToPath } from "node:url";
import { Ajv } from "ajv";
import { describe, expect, test } from "vitest";
import { parse } from "yaml";
import {
  PROJECT_SCHEMA_FILE,
  projectSchema,
  projectSchemaText,
} from "../../../src/project/project-schema.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const corpusDir = `${root}test/fixtures/project-corpus`;
const corpus = fs.readdirSync(corpusDir).filter((name) => name.endsWith(".yml"));
const validate = new Ajv({ allErrors: true, strict: false }).compile(projectSchema());

/** The schema's complaints about a project file's text, as `path: message` lines. */
function complaints(text: string): string[] {
  if (validate(parse(text))) return [];
  return (validate.errors ?? []).map(
    (error) => `${error.instancePath} ${error.message ?? ""} ${JSON.stringify(error.params)}`,
  );
}

describe("the project file's JSON Schema", () => {
  test("the shipped file is what `npm run schema` generates now (regenerate it after changing a setting)", () => {
    expect(fs.readFileSync(`${root}${PROJECT_SCHEMA_FILE}`, "utf8")).toBe(projectSchemaText());
  });

  test.each([...corpus, "../project/reference/meltano.yml"])("accepts %s", (name) => {
    expect(complaints(fs.readFileSync(`${corpusDir}/${name}`, "utf8"))).toEqual([]);
  });

  test("flags a setting no variant knows, a misspelt plugin key and a misspelt top-level key", () => {
    const project = (extra: string) => `
version: 1
plugins:
  extractors:
    - name: tap-postgres
      config:
        user: u
${extra}
`;
    expect(complaints(project(""))).toEqual([]);
    expect(complaints(project("        hots: db"))).toContainEqual(
      expect.stringMatching(/^\/plugins\/extractors\/0\/config must NOT have additional properties .*"hots"/),
    );
    expect(complaints(project("      slect: ['*.*']"))).toContainEqual(expect.stringContaining('"slect"'));
    expect(complaints(project("defualt_environment: dev"))).toContainEqual(
      expect.stringContaining('"defualt_environment"'),
    );
  });

  test("takes any config for an external plugin, and a value from a variable for any setting", () => {
    expect(
      complaints(`
plugins:
  extractors:
    - name: tap-postgres
      config: { port: $PGPORT, ssl: "\${USE_SSL}", filter_schemas: "a,b", host: }
    - name: tap-github
      config: { repositories: [sluice/sluice], anything: 1 }
    - name: tap-postgres-legacy
      inherit_from: tap-postgres
      executable: /opt/tap-postgres/bin/tap-postgres
      config: { some_old_flag: true }
`),
    ).toEqual([]);
  });
});
