import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { TestProject } from "vitest/node";
import { startEmbeddedPostgres, type EmbeddedServer } from "@sluice/postgres-server";

/**
 * Every temporary file of a test run goes under one folder, deleted when the run ends: tests make
 * theirs with `os.tmpdir()`, which reads TMPDIR, and the workers and the CLIs they start inherit
 * it. Without it, each full run left about 1 GB of projects, spools and warehouses in /tmp.
 * Set SLUICE_TEST_KEEP_TMP=1 to keep the folder (its path is printed) to look into a failure.
 */
let tmpRoot: string | undefined;

function useTemporaryRoot(): void {
  tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-tests-"));
  // As open as /tmp itself: as root, the embedded servers run as a `postgres` user that must
  // reach its folders here.
  fs.chmodSync(tmpRoot, 0o1777);
  process.env.TMPDIR = tmpRoot;
}

function removeTemporaryRoot(): void {
  if (!tmpRoot) return;
  if (process.env.SLUICE_TEST_KEEP_TMP) {
    console.log(`test files kept in ${tmpRoot}`);
    return;
  }
  fs.rmSync(tmpRoot, { recursive: true, force: true, maxRetries: 3 });
}

/**
 * One PostgreSQL server for the whole suite: the one in SLUICE_TEST_DATABASE_URL when set (to
 * test another version), otherwise an embedded one started here. Each test file makes its own
 * database on it (see `pg.ts`).
 */
let server: EmbeddedServer | undefined;
let plainServer: EmbeddedServer | undefined;

export async function setup(project: TestProject): Promise<void> {
  useTemporaryRoot();
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
  removeTemporaryRoot();
}

declare module "vitest" {
  export interface ProvidedContext {
    postgresUrl: string;
    /** A server with wal_level=replica and its only replication slot in use. */
    plainPostgresUrl: string;
  }
}
