import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { ConfigError } from "../errors.js";
import { PROJECT_FILE_NAMES } from "./project-file.js";
import { PROJECT_SCHEMA_FILE } from "./project-schema.js";

/** The project file's JSON Schema shipped with this installation of sluice (`schema/` of the package). */
export function installedSchemaFile(): string {
  // dist/project/ (or src/project/ under the tests) → the package root.
  return resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", PROJECT_SCHEMA_FILE);
}

/**
 * The first line of a project file that points yaml-language-server (VS Code's YAML extension
 * and other editors) at sluice's schema: without it an editor takes Meltano's own schema for a
 * `meltano.yml`. The path is relative to the project folder (`node_modules/sluice/schema/...`
 * when sluice is installed in the project).
 */
export function schemaModeline(projectDir: string): string {
  const path = relative(projectDir, installedSchemaFile()).split(sep).join("/");
  return `# yaml-language-server: $schema=${path}`;
}

export interface InitProjectResult {
  projectFile: string;
  /** Files written or appended to, absolute. */
  written: string[];
}

/** Lines every project's `.gitignore` needs: state and run history, and the file holding secrets. */
const GITIGNORE_LINES = [".sluice/", ".env"];

/**
 * Creates a starter project in `dir` (created if missing): a `sluice.yml` that copies PostgreSQL
 * into `output/warehouse.duckdb` with dev and prod environments, and `.gitignore` lines for
 * `.sluice/` and `.env`. Refuses with a ConfigError when `dir` already holds a project file, so
 * that it never overwrites someone's configuration.
 */
export function initProject(dir: string, options: { name?: string } = {}): InitProjectResult {
  const projectDir = resolve(dir);
  for (const fileName of PROJECT_FILE_NAMES) {
    if (existsSync(join(projectDir, fileName))) {
      throw new ConfigError(`${join(projectDir, fileName)} already exists: this folder is already a project`);
    }
  }
  mkdirSync(projectDir, { recursive: true });
  const projectFile = join(projectDir, "sluice.yml");
  const text = `${schemaModeline(projectDir)}\n${projectTemplate(options.name ?? basename(projectDir))}`;
  writeFileSync(projectFile, text, { flag: "wx" });
  const written = [projectFile];

  const gitignore = join(projectDir, ".gitignore");
  const existing = existsSync(gitignore) ? readFileSync(gitignore, "utf8") : "";
  const present = new Set(existing.split(/\r?\n/).map((line) => line.trim()));
  const missing = GITIGNORE_LINES.filter((line) => !present.has(line));
  if (missing.length > 0) {
    const separator = existing === "" || existing.endsWith("\n") ? "" : "\n";
    writeFileSync(gitignore, `${existing}${separator}${missing.join("\n")}\n`);
    written.push(gitignore);
  }
  return { projectFile, written };
}

/** The starter `sluice.yml`; it is also a valid meltano.yml. */
export function projectTemplate(name: string): string {
  return `# ${name}: a sluice project: PostgreSQL into DuckDB.
#
# Every setting can also be set by an environment variable named <PLUGIN>_<SETTING>
# (TAP_POSTGRES_PASSWORD, TARGET_DUCKDB_PATH), from the environment or from .env in this
# folder. Keep secrets there, never in this file: .env is in .gitignore.
version: 1
project_id: ${randomUUID()}
default_environment: dev

plugins:
  extractors:
    - name: tap-postgres
      variant: transferwise
      pip_url: pipelinewise-tap-postgres
      config:
        host: localhost
        port: 5432
        user: postgres
        password: $TAP_POSTGRES_PASSWORD
        dbname: postgres
        filter_schemas: [public]
        default_replication_method: FULL_TABLE
      # Streams are <schema>-<table>. Replicate one incrementally:
      # metadata:
      #   public-events:
      #     replication-method: INCREMENTAL
      #     replication-key: updated_at
  loaders:
    - name: target-duckdb
      variant: jwills
      pip_url: target-duckdb
      config:
        path: output/warehouse.duckdb
        add_metadata_columns: true

environments:
  - name: dev
  - name: prod
    config:
      plugins:
        extractors:
          - name: tap-postgres
            config:
              host: $PROD_POSTGRES_HOST
              sslmode: require

jobs:
  - name: postgres-to-duckdb
    tasks:
      - tap-postgres target-duckdb

schedules:
  - name: daily-postgres-to-duckdb
    interval: "@daily"
    job: postgres-to-duckdb
`;
}
