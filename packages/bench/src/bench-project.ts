import fs from "node:fs";
import path from "node:path";

/**
 * Writes the `sluice.yml` of a bench run into `dir`: tap-postgres on the server of `source`
 * selecting `select`, and one loader. `tapConfig` and `loaderConfig` are extra YAML lines,
 * already indented as settings of `config:`; `mappers`, YAML lines of `plugins.mappers` items.
 * Returns the environment to run it with (the
 * password as TAP_POSTGRES_PASSWORD, as a project would have it).
 */
export function writeBenchProject(
  dir: string,
  source: URL,
  options: {
    select: string[];
    tapConfig?: string[];
    tapExtra?: string[];
    loader: string;
    loaderConfig: string[];
    mappers?: string[];
  },
): NodeJS.ProcessEnv {
  fs.mkdirSync(dir, { recursive: true });
  const lines = [
    "plugins:",
    "  extractors:",
    "    - name: tap-postgres",
    "      config:",
    `        host: ${source.hostname}`,
    `        port: ${source.port || 5432}`,
    `        user: ${decodeURIComponent(source.username)}`,
    `        dbname: ${decodeURIComponent(source.pathname.slice(1)) || "postgres"}`,
    ...(options.tapConfig ?? []).map((line) => `        ${line}`),
    `      select: ${JSON.stringify(options.select)}`,
    ...(options.tapExtra ?? []).map((line) => `      ${line}`),
    "  loaders:",
    `    - name: ${options.loader}`,
    "      config:",
    ...options.loaderConfig.map((line) => `        ${line}`),
    ...(options.mappers ? ["  mappers:", ...options.mappers.map((line) => `    ${line}`)] : []),
    "",
  ];
  fs.writeFileSync(path.join(dir, "sluice.yml"), lines.join("\n"));
  return { ...process.env, TAP_POSTGRES_PASSWORD: decodeURIComponent(source.password) };
}
