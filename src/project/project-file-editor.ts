import { chmodSync, existsSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { isMap, isScalar, isSeq, parseDocument, YAMLMap, YAMLSeq, type Document } from "yaml";
import { ConfigError } from "../errors.js";
import type { PluginType } from "./project-file.js";

/** Where a plugin's settings are written: its entry, or its override in one environment. */
export interface PluginScope {
  /** A mapper's own config, or one mapping's (under its mapper's `mappings`). */
  type: PluginType | "mapper" | "mapping";
  name: string;
  /** Write into `environments[<name>].config.plugins`, creating the override if needed. */
  environment?: string;
}

const LIST_OF: Record<PluginScope["type"], string> = {
  extractor: "extractors",
  loader: "loaders",
  mapper: "mappers",
  // A mapping's override in an environment sits beside its mapper's, named after it.
  mapping: "mappers",
};

/**
 * Edits a project file (`sluice.yml` or `meltano.yml`) the way a person would: through the YAML
 * document, so comments, key order, quoting and anchors outside the edited node stay as written
 * (Meltano's own `config set` and `select` rewrite the file; users keep comments in theirs).
 * Nothing is written until `save`, which replaces the file atomically.
 */
export class ProjectFileEditor {
  private constructor(
    readonly path: string,
    private readonly document: Document.Parsed | Document,
  ) {}

  static open(path: string): ProjectFileEditor {
    const parsed = parseDocument(readFileSync(path, "utf8"));
    if (parsed.errors.length > 0) {
      throw new ConfigError(
        `${path}: ${parsed.errors[0]!.message}; fix the file before editing it with sluice`,
      );
    }
    const document: Document = parsed;
    if (document.contents === null) document.contents = new YAMLMap();
    if (!isMap(document.contents)) throw new ConfigError(`${path}: the file is not a mapping of keys`);
    return new ProjectFileEditor(path, document);
  }

  /** Adds `plugins.<type>s[]` entry; refuses a name the file already has (of either type). */
  addPlugin(type: PluginType, entry: Record<string, unknown>): void {
    const name = String(entry.name);
    for (const other of ["extractor", "loader"] as const) {
      if (this.pluginIndex(other, name) !== undefined) {
        throw new ConfigError(
          `${this.path} already has a plugin named ${name} (plugins.${LIST_OF[other]}); pick another name, or use inherit_from to add a variant of it`,
        );
      }
    }
    const list = this.list(["plugins", LIST_OF[type]], true)!;
    list.items.push(this.document.createNode(entry));
  }

  /** Sets `config.<path...>` of the plugin (or of its override in an environment). */
  setConfig(scope: PluginScope, path: readonly string[], value: unknown): void {
    const entry = this.scopeEntry(scope, true)!;
    entry.setIn(["config", ...path], this.document.createNode(value));
  }

  /** Removes `config.<path...>`; false when it was not set there. */
  unsetConfig(scope: PluginScope, path: readonly string[]): boolean {
    const entry = this.scopeEntry(scope, false);
    if (!entry?.hasIn(["config", ...path])) return false;
    entry.deleteIn(["config", ...path]);
    return true;
  }

  /** Adds a `select` rule unless the list has it; removes its opposite (`a.b` for `!a.b`). */
  addSelectRule(scope: PluginScope, rule: string): boolean {
    const entry = this.scopeEntry(scope, true)!;
    const existing: unknown = entry.get("select", true);
    let select: YAMLSeq;
    if (isSeq(existing)) {
      select = existing;
    } else {
      select = new YAMLSeq();
      entry.set("select", select);
    }
    const items = select.items;
    const text = (item: unknown): unknown =>
      item && typeof item === "object" && "value" in item ? item.value : item;
    const opposite = rule.startsWith("!") ? rule.slice(1) : `!${rule}`;
    const at = items.findIndex((item) => text(item) === opposite);
    if (at >= 0) items.splice(at, 1);
    if (items.some((item) => text(item) === rule)) return false;
    items.push(this.document.createNode(rule));
    return true;
  }

  /** Writes the file atomically (a temporary file renamed over it), keeping its mode. */
  save(): void {
    const temporary = join(dirname(this.path), `.${Date.now()}.${process.pid}.sluice-edit`);
    const mode = statSync(this.path).mode & 0o777;
    writeFileSync(temporary, this.document.toString({ lineWidth: 0 }), { mode });
    chmodSync(temporary, mode);
    renameSync(temporary, this.path);
  }

  private pluginIndex(type: PluginType | "mapper", name: string): number | undefined {
    const list = this.list(["plugins", LIST_OF[type]], false);
    const index = list?.items.findIndex((item) => isMap(item) && item.get("name") === name) ?? -1;
    return index >= 0 ? index : undefined;
  }

  /** The mapping named `name` under some mapper's `mappings`. */
  private mappingEntry(name: string): YAMLMap | undefined {
    for (const mapper of this.list(["plugins", "mappers"], false)?.items ?? []) {
      const mappings: unknown = isMap(mapper) ? mapper.get("mappings", true) : undefined;
      if (!isSeq(mappings)) continue;
      const found = mappings.items.find((item): item is YAMLMap => isMap(item) && item.get("name") === name);
      if (found) return found;
    }
    return undefined;
  }

  private scopeEntry(scope: PluginScope, create: boolean): YAMLMap | undefined {
    const own =
      scope.type === "mapping"
        ? this.mappingEntry(scope.name)
        : (() => {
            const index = this.pluginIndex(scope.type as PluginType | "mapper", scope.name);
            return index === undefined
              ? undefined
              : (this.list(["plugins", LIST_OF[scope.type]], false)!.items[index] as YAMLMap);
          })();
    if (own === undefined) {
      throw new ConfigError(
        scope.type === "mapping"
          ? `${this.path} has no mapping named ${scope.name} under plugins.mappers[].mappings; add it to its mapper first`
          : `${this.path} has no ${scope.type} named ${scope.name} under plugins.${LIST_OF[scope.type]}; add it first (sluice add ${scope.type} ${scope.name})`,
      );
    }
    if (scope.environment === undefined) return own;
    const environments = this.list(["environments"], false);
    const environment = environments?.items.find(
      (item): item is YAMLMap => isMap(item) && item.get("name") === scope.environment,
    );
    if (!environment) {
      throw new ConfigError(
        `${this.path} has no environment named ${scope.environment}; add it under environments: (or leave out --environment to change the plugin itself)`,
      );
    }
    let overrides = environment.getIn(["config", "plugins", LIST_OF[scope.type]], true);
    if (!isSeq(overrides)) {
      if (!create) return undefined;
      overrides = new YAMLSeq();
      environment.setIn(["config", "plugins", LIST_OF[scope.type]], overrides);
    }
    const seq = overrides as YAMLSeq;
    let override = seq.items.find((item): item is YAMLMap => isMap(item) && item.get("name") === scope.name);
    if (!override && create) {
      override = this.document.createNode({ name: scope.name }) as YAMLMap;
      seq.items.push(override);
    }
    return override;
  }

  private list(path: string[], create: boolean): YAMLSeq | undefined {
    const node = this.document.getIn(path, true);
    if (isSeq(node)) return node;
    // `extractors:` with nothing after it is an empty list to Meltano too.
    const empty = node === undefined || node === null || (isScalar(node) && node.value === null);
    if (!empty) {
      throw new ConfigError(
        `${this.path}: ${path.join(".")} is not a list; fix the file before editing it with sluice`,
      );
    }
    if (!create) return undefined;
    const seq = new YAMLSeq();
    this.document.setIn(path, seq);
    return seq;
  }
}

/**
 * Sets `name=value` in the project's `.env` (created with mode 0600: it holds secrets), keeping
 * every other line as written; as `meltano config set` does for a sensitive setting.
 */
export function setDotEnvVariable(projectDir: string, name: string, value: string | undefined): boolean {
  const path = join(projectDir, ".env");
  const lines = existsSync(path) ? readFileSync(path, "utf8").split("\n") : [];
  if (lines.at(-1) === "") lines.pop();
  const pattern = new RegExp(`^\\s*(export\\s+)?${name}\\s*=`);
  const at = lines.findIndex((line) => pattern.test(line));
  const existed = at >= 0;
  if (value === undefined) {
    if (existed) lines.splice(at, 1);
  } else {
    const line = `${name}=${dotEnvQuote(name, value)}`;
    if (existed) lines[at] = line;
    else lines.push(line);
  }
  if (value === undefined && !existed) return false;
  const temporary = `${path}.${process.pid}.sluice-edit`;
  const mode = existsSync(path) ? statSync(path).mode & 0o777 : 0o600;
  writeFileSync(temporary, lines.length > 0 ? `${lines.join("\n")}\n` : "", { mode });
  chmodSync(temporary, mode);
  renameSync(temporary, path);
  return true;
}

/** A value as dotenv reads it back unchanged: single quotes take it literally. */
function dotEnvQuote(name: string, value: string): string {
  if (!value.includes("'")) return `'${value}'`;
  if (!value.includes("`")) return `\`${value}\``;
  if (!value.includes('"') && !value.includes("\\") && !value.includes("\n")) return `"${value}"`;
  throw new ConfigError(
    `${name}: the value has quotes of every kind (' " \`), which .env cannot hold; set the variable in the environment instead`,
  );
}
