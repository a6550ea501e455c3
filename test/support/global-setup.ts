import type { TestProject } from "vitest/node";
import { startEmbeddedPostgres, type EmbeddedServer } from "../../src/demo/embedded-postgres-server.js";

/**
 * One PostgreSQL server for the whole suite: the one in SLUICE_TEST_DATABASE_URL when set (to
 * test another version), otherwise an embedded one started here. Each test file makes its own
 * database on it (see `pg.ts`).
 */
let server: EmbeddedServer | undefined;

export async function setup(project: TestProject): Promise<void> {
  let url = process.env.SLUICE_TEST_DATABASE_URL;
  if (!url) {
    server = await startEmbeddedPostgres();
    url = server.url("postgres");
  }
  project.provide("postgresUrl", url);
}

export async function teardown(): Promise<void> {
  await server?.stop();
}

declare module "vitest" {
  export interface ProvidedContext {
    postgresUrl: string;
  }
}
