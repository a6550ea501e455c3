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
let server15: EmbeddedServer | undefined;

/**
 * Debian's PostgreSQL 15 (production runs it today), for the tests of what differs between
 * versions (generated columns, pgoutput protocol versions): `apt-get install postgresql` on
 * Debian 12, as `.ci/run` does. SLUICE_TEST_POSTGRES15_BIN points elsewhere.
 */
const POSTGRES15_BIN = process.env.SLUICE_TEST_POSTGRES15_BIN ?? "/usr/lib/postgresql/15/bin";

export async function setup(project: TestProject): Promise<void> {
  useTemporaryRoot();
  // Started together: each spends most of its start-up in initdb, on one core.
  const started = await Promise.allSettled([
    process.env.SLUICE_TEST_DATABASE_URL ? Promise.resolve(undefined) : startEmbeddedPostgres(),
    // A server as many are configured out of the box: no logical decoding, one replication slot
    // (taken), so the checks LOG_BASED makes can be seen to fail.
    startEmbeddedPostgres({
      settings: { wal_level: "replica", max_replication_slots: "1", max_wal_senders: "2" },
    }),
    fs.existsSync(path.join(POSTGRES15_BIN, "postgres"))
      ? startEmbeddedPostgres({ binDir: POSTGRES15_BIN })
      : Promise.resolve(undefined),
  ]);
  const [main, plain, fifteen] = started.map((s) => (s.status === "fulfilled" ? s.value : undefined));
  server = main;
  plainServer = plain;
  server15 = fifteen;
  const failed = started.find((s): s is PromiseRejectedResult => s.status === "rejected");
  if (failed) {
    await teardown();
    throw failed.reason;
  }
  project.provide("postgresUrl", process.env.SLUICE_TEST_DATABASE_URL ?? server!.url("postgres"));
  project.provide("plainPostgresUrl", plainServer!.url("postgres"));
  // Empty when the programs are missing: only the tests that need it fail, saying what to install.
  project.provide("postgres15Url", server15?.url("postgres") ?? "");
}

export async function teardown(): Promise<void> {
  await server15?.stop();
  await plainServer?.stop();
  await server?.stop();
  removeTemporaryRoot();
}

declare module "vitest" {
  export interface ProvidedContext {
    postgresUrl: string;
    /** A server with wal_level=replica and its only replication slot in use. */
    plainPostgresUrl: string;
    /** Debian's PostgreSQL 15 with wal_level=logical; empty when it is not installed. */
    postgres15Url: string;
  }
}
