import type { TestProject } from "vitest/node";
import { startEmbeddedPostgres, type EmbeddedServer } from "../../src/demo/embedded-postgres-server.js";

/**
 * One PostgreSQL server for the whole suite: the one in SLUICE_TEST_DATABASE_URL when set (to
 * test another version), otherwise an embedded one started here. Each test file makes its own
 * database on it (see `pg.ts`).
 */
let server: EmbeddedServer | undefined;
let plainServer: EmbeddedServer | undefined;

export async function setup(project: TestProject): Promise<void> {
  let url = process.env.SLUICE_TEST_DATABASE_URL;
  if (!url) {
    server = await startEmbeddedPostgres();
    url = server.url("postgres");
  }
  project.provide("postgresUrl", url);
  // A server as many are configured out of the box: no logical decoding, one replication slot
  // (taken), so the checks LOG_BASED makes can be seen to fail.
  plainServer = await startEmbeddedPostgres({
    settings: { wal_level: "replica", max_replication_slots: "1", max_wal_senders: "2" },
  });
  project.provide("plainPostgresUrl", plainServer.url("postgres"));
}

export async function teardown(): Promise<void> {
  await plainServer?.stop();
  await server?.stop();
}

declare module "vitest" {
  export interface ProvidedContext {
    postgresUrl: string;
    /** A server with wal_level=replica and its only replication slot in use. */
    plainPostgresUrl: string;
  }
}
