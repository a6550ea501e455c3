import {
  onlyBoolean,
  onlyEmpty,
  pemFileOnly,
  sslModeWhenEnabled,
  type UpstreamSetting,
} from "./upstream-setting.js";

const ML = ["meltanolabs"];

/**
 * How meltanolabs' tap-postgres and target-postgres connect (one SDK connector shared by both):
 * a SQLAlchemy URL, an SSH tunnel, and TLS settings read only when their switch is on. Decided
 * once for both plugins.
 */
export const meltanolabsPostgresConnection: readonly UpstreamSetting[] = [
  {
    name: "sqlalchemy_url",
    variants: ML,
    kind: "string",
    description: "A SQLAlchemy URL instead of host, port, user, password and database",
    secret: true,
    decision: {
      kind: "semantic",
      sluiceDoes: "connects with host, port, user, password and dbname",
      instead: "set host, port, user, password and dbname (sslmode for TLS) instead of the URL",
    },
  },
  {
    name: "ssh_tunnel",
    variants: ML,
    kind: "object",
    description: "Connect through an SSH bastion host (enable, host, port, username, private_key, ...)",
    decision: {
      kind: "semantic",
      accepts: (value) => onlyEmpty(value) || isDisabledTunnel(value),
      sluiceDoes: "connects to host and port directly",
      instead:
        "open the tunnel outside sluice (`ssh -N -L 15432:db.internal:5432 bastion`, or a sidecar in the pod) and point host and port at it",
    },
  },
  {
    name: "ssl_enable",
    variants: ML,
    kind: "boolean",
    default: false,
    description: "Use TLS, verified as ssl_mode says",
    decision: { kind: "sluice", setting: "ssl" },
  },
  {
    name: "ssl_mode",
    variants: ML,
    kind: "string",
    default: "verify-full",
    description: "libpq's sslmode, read when ssl_enable is true",
    decision: { kind: "mapped", setting: "sslmode", map: sslModeWhenEnabled },
  },
  {
    name: "ssl_certificate_authority",
    variants: ML,
    kind: "string",
    default: "~/.postgresql/root.crl",
    description: "CA certificate (a file, or its text) to verify the server with",
    decision: { kind: "mapped", setting: "sslrootcert", map: pemFileOnly("sslrootcert", "ssl") },
  },
  {
    name: "ssl_client_certificate_enable",
    variants: ML,
    kind: "boolean",
    default: false,
    description: "Present a client certificate",
    decision: {
      kind: "cosmetic",
      why: "sluice presents a client certificate whenever sslcert and sslkey (ssl_client_certificate, ssl_client_private_key) are set",
    },
  },
  {
    name: "ssl_client_certificate",
    variants: ML,
    kind: "string",
    description: "Client certificate (a file, or its text)",
    decision: {
      kind: "mapped",
      setting: "sslcert",
      map: pemFileOnly("sslcert", "ssl_client_certificate_enable"),
    },
  },
  {
    name: "ssl_client_private_key",
    variants: ML,
    kind: "string",
    description: "Client private key (a file, or its text)",
    secret: true,
    decision: {
      kind: "mapped",
      setting: "sslkey",
      map: pemFileOnly("sslkey", "ssl_client_certificate_enable"),
    },
  },
  {
    name: "ssl_storage_directory",
    variants: ML,
    kind: "string",
    default: ".secrets",
    description: "Where certificates given as text are written",
    decision: { kind: "cosmetic", why: "sluice takes certificates as files only and writes none" },
  },
];

/** `ssh_tunnel: {enable: false, ...}`: the tunnel written down but switched off. */
function isDisabledTunnel(value: unknown): boolean {
  if (typeof value !== "object" || value === null) return false;
  const enable = (value as Record<string, unknown>).enable;
  return onlyBoolean(false)(enable ?? false);
}
