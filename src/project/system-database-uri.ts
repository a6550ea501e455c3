import { isAbsolute, resolve } from "node:path";
import { ConfigError } from "../errors.js";
import type { EnvSource } from "./env-file.js";
import { expandEnvVars, type UnsetVariable } from "./expand-env-vars.js";
import type { ProjectFile } from "./project-file.js";

/** Where the system database or the state lives. */
export type StoreLocation =
  { kind: "sqlite"; path: string } | { kind: "postgres"; url: string } | { kind: "file"; dir: string };

export const DEFAULT_DATABASE_URI = "sqlite:///.sluice/sluice.db";

interface ResolveOptions {
  project: ProjectFile;
  projectDir: string;
  /** Variables to read overrides from and expand `$VAR` with: `projectEnv(...)`. */
  env: EnvSource;
}

/**
 * The system database (run history, and state unless `state_backend.uri` says otherwise):
 * `SLUICE_DATABASE_URI`, else `MELTANO_DATABASE_URI`, else `database_uri`, else
 * `sqlite:///.sluice/sluice.db` in the project folder. It is SQLite or PostgreSQL.
 */
export function resolveSystemDatabase(options: ResolveOptions): StoreLocation {
  const { project, env } = options;
  const [uri, where] = firstSet([
    [env.SLUICE_DATABASE_URI, "environment variable SLUICE_DATABASE_URI"],
    [env.MELTANO_DATABASE_URI, "environment variable MELTANO_DATABASE_URI"],
    [project.database_uri, "database_uri"],
  ]) ?? [DEFAULT_DATABASE_URI, "database_uri"];
  const location = parseStoreUri(expandUri(uri, where, env), where, options.projectDir);
  if (location.kind === "file") {
    throw new ConfigError(
      `${where}: the system database must be sqlite:// or postgresql://, got a file:// URI`,
    );
  }
  return location;
}

/**
 * Where state is kept: `SLUICE_STATE_BACKEND_URI`, else `MELTANO_STATE_BACKEND_URI`, else
 * `state_backend.uri`, else the system database (also when the uri is Meltano's `systemdb`).
 */
export function resolveStateBackend(options: ResolveOptions): StoreLocation {
  const { project, env } = options;
  const chosen = firstSet([
    [env.SLUICE_STATE_BACKEND_URI, "environment variable SLUICE_STATE_BACKEND_URI"],
    [env.MELTANO_STATE_BACKEND_URI, "environment variable MELTANO_STATE_BACKEND_URI"],
    [project.state_backend?.uri, "state_backend.uri"],
  ]);
  if (!chosen || chosen[0] === "systemdb") return resolveSystemDatabase(options);
  const [uri, where] = chosen;
  return parseStoreUri(expandUri(uri, where, env), where, options.projectDir);
}

/**
 * Parses a store URI. `sqlite:///rel/path` is relative to the project folder and
 * `sqlite:////abs/path` absolute (SQLAlchemy's rule, which meltano.yml files follow);
 * `file:///abs/dir` is absolute and `file://rel/dir` relative. SQLAlchemy driver suffixes
 * (`postgresql+psycopg2://`) are dropped.
 */
export function parseStoreUri(uri: string, where: string, projectDir: string): StoreLocation {
  const match = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(.*)$/s.exec(uri.trim());
  const scheme = match?.[1]?.toLowerCase().split("+")[0];
  const rest = match?.[2] ?? "";
  switch (scheme) {
    case "sqlite": {
      if (!rest.startsWith("/") || rest.length < 2) {
        throw new ConfigError(`${where}: expected sqlite:///<path>, got ${redactUri(uri)}`);
      }
      const path = rest.slice(1);
      return { kind: "sqlite", path: isAbsolute(path) ? path : resolve(projectDir, path) };
    }
    case "postgresql":
    case "postgres":
      return { kind: "postgres", url: `postgresql://${rest}` };
    case "file": {
      if (rest === "" || rest === "/")
        throw new ConfigError(`${where}: expected file://<folder>, got ${uri}`);
      return { kind: "file", dir: rest.startsWith("/") ? rest : resolve(projectDir, rest) };
    }
    default:
      throw new ConfigError(
        `${where}: unsupported URI ${redactUri(uri)}; use postgresql://..., sqlite:///<path> or file://<folder>`,
      );
  }
}

/** The URI with the password of its user info (and a `password=` parameter) hidden: safe to print. */
export function redactUri(uri: string): string {
  const match = /^([A-Za-z][A-Za-z0-9+.-]*:\/\/)([^/?#]*)(.*)$/s.exec(uri);
  if (!match) return uri;
  const [, scheme = "", authority = "", tail = ""] = match;
  const at = authority.lastIndexOf("@");
  const colon = authority.indexOf(":");
  const safeAuthority =
    at >= 0 && colon >= 0 && colon < at
      ? `${authority.slice(0, colon)}:********${authority.slice(at)}`
      : authority;
  return `${scheme}${safeAuthority}${tail.replace(/([?&](?:password|sslpassword)=)[^&#]*/gi, "$1********")}`;
}

/** The password in a URI's user info, decoded, for the CLI to register with its SecretRedactor. */
export function passwordOfUri(uri: string): string | undefined {
  const authority = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/?#]*)/.exec(uri)?.[1] ?? "";
  const at = authority.lastIndexOf("@");
  const colon = authority.indexOf(":");
  if (at < 0 || colon < 0 || colon > at) return undefined;
  const encoded = authority.slice(colon + 1, at);
  try {
    return decodeURIComponent(encoded);
  } catch {
    return encoded;
  }
}

function firstSet(candidates: [string | undefined, string][]): [string, string] | undefined {
  const found = candidates.find(([value]) => value !== undefined && value.trim() !== "");
  return found as [string, string] | undefined;
}

function expandUri(uri: string, where: string, env: EnvSource): string {
  const unset: UnsetVariable[] = [];
  const expanded = expandEnvVars(uri, env, where, unset) as string;
  if (unset.length > 0) {
    throw new ConfigError(
      unset.map((reference) => `${where}: environment variable ${reference.variable} is not set`),
    );
  }
  return expanded;
}
