/**
 * Applies a Meltano extractor's `select`, `metadata` and `schema` extras to a discovered catalog,
 * the way Meltano's `SingerTap.apply_catalog_rules` does before it starts a tap, so a meltano.yml
 * selects the same streams and columns under sluice. Pure data: no I/O, inputs are never mutated.
 *
 * Checked against meltano/meltano `src/meltano/core/plugin/singer/catalog.py` (`SelectPattern`,
 * `select_metadata_rules`, `select_filter_metadata_rules`, `MetadataExecutor`, `SchemaExecutor`)
 * and `tap.py` (`config_metadata_rules`, `config_schema_rules`, `apply_catalog_rules`):
 *
 * - Order: schema rules first; then metadata rules in this order, the last matching rule winning
 *   for each key: `!*.*` (everything deselected), the `select` inclusions, the `select`
 *   exclusions (so an exclusion always beats an inclusion), then `metadata` (so an explicit
 *   `selected` in `metadata` beats `select`). `select` defaults to `["*.*"]`.
 * - A select pattern is `[!]<stream>[.<property>[.<sub-property>...]]`. Meltano splits it on the
 *   FIRST dot that is not escaped as `\.`; the stream part is a glob over `tap_stream_id`, each
 *   property part a glob over a property name. Globs are fnmatch's (`*`, `?`, `[...]`, `[!...]`,
 *   see glob.ts), and `*` also crosses into nested properties (`s.*` covers `s.a.b`).
 * - `s.p` selects stream `s` and property `p` (and `p`'s parents when `p` is nested), even when `p`
 *   matches nothing. `s` alone means `s.*`. `!s.p` deselects the property only; `!s.*` and `!s`
 *   deselect the stream too.
 * - Properties with `inclusion: automatic` (keys, replication keys) are extracted whatever the
 *   rules say; `inclusion: unsupported` never (Meltano refuses to set `selected: true` on them).
 * - `metadata` is `{<stream-glob>: {<key>: value, <property-glob>: {<key>: value}}}`; nesting and
 *   dotted keys are the same thing (Meltano flattens the object with dots and splits it again):
 *   the first part is the stream, the last the metadata key, those between a property path.
 *   Stream-level keys are also copied onto the stream with `-` turned into `_`
 *   (`replication-method` -> `replication_method`), as Meltano does for legacy taps.
 * - `schema` is `{<stream-glob>: {<property-glob>: <JSON schema>}}`; the JSON schema replaces the
 *   property's whole schema, and a property that does not exist yet is added.
 * - Catalog properties without a metadata entry get one: `inclusion: automatic` at the top level,
 *   `available` when nested (Meltano's support for legacy catalogs).
 *
 * Where sluice deliberately differs:
 * - Stream ids with dots (`public.events`): when the part before the first dot matches no stream,
 *   longer prefixes are tried (`public.events.*` selects the properties of `public.events`), and
 *   `\.` escapes a dot anywhere (Meltano only unescapes it in the stream part of `select`).
 *   Whenever Meltano's reading matches a stream, it is the one used.
 * - A missing stream-level metadata entry is added without `inclusion: automatic` (Meltano adds
 *   it), which would otherwise make the stream impossible to deselect.
 * - After the rules, `selected` is written as what it means: `true` on automatic entries, `false`
 *   on unsupported ones, so a tap that reads only `selected` agrees with one that reads
 *   `inclusion` too.
 * - In a `schema` property key, a wildcard anywhere makes it a glob (Meltano only looks at the
 *   first character and would otherwise add a property literally named `created_*`).
 */
import { ConfigError } from "../errors.js";
import type { Catalog, CatalogStream, JsonSchema, MetadataEntry } from "./catalog.js";
import { globSource, isGlob, matchesGlob } from "./glob.js";

/** An extractor's catalog extras, as written under the extractor in meltano.yml / sluice.yml. */
export interface SelectionRules {
  /** `<tap_stream_id>.<property>` globs, `!` to exclude. Absent: `["*.*"]`; empty: nothing. */
  select?: readonly string[];
  /** `{<stream-glob>: {<metadata-key>: value, <property-glob>: {<metadata-key>: value}}}`. */
  metadata?: Readonly<Record<string, unknown>>;
  /** `{<stream-glob>: {<property-glob>: <JSON schema that replaces the property's>}}`. */
  schema?: Readonly<Record<string, unknown>>;
}

/** A rule that names a property (no wildcard) that a matched stream does not have. */
export interface UnmatchedProperty {
  /** The select pattern, or the metadata key path, as written. */
  rule: string;
  streamId: string;
  /** Dotted property path. */
  property: string;
}

export interface SelectionResult {
  catalog: Catalog;
  /** Select patterns (as written, `!` included) whose stream part matched no `tap_stream_id`. */
  unmatchedSelect: string[];
  /** Top-level `metadata` keys that matched no stream. */
  unmatchedMetadata: string[];
  /** Top-level `schema` keys that matched no stream. */
  unmatchedSchema: string[];
  /** Meltano only warns about these: the stream is selected, the column silently is not. */
  unmatchedProperties: UnmatchedProperty[];
}

export interface PropertySelection {
  /** Dotted path for a nested property (`address.city`). */
  name: string;
  /** Whether the property is extracted when its stream is. */
  selected: boolean;
  /** `automatic`, `available` or `unsupported`. */
  inclusion: string;
}

export interface StreamSelection {
  streamId: string;
  selected: boolean;
  /** In schema order, each nested property right after its parent. */
  properties: PropertySelection[];
}

export interface NarrowResult {
  catalog: Catalog;
  /** Patterns that matched no stream (the CLI reports them as unknown streams). */
  unmatched: string[];
}

/** What Meltano selects when an extractor has no `select`: every stream, every property. */
export const DEFAULT_SELECT: readonly string[] = ["*.*"];

const SELECTED = "selected";

/** A parsed rule: which streams (any of `streams`, or none of them when negated) and breadcrumb. */
interface CatalogRule {
  streams: string[];
  negated: boolean;
  /** Singer breadcrumb whose segments are globs: `[]` for the stream, `["properties", "*"]`. */
  breadcrumb: string[];
}

interface MetadataRule extends CatalogRule {
  key: string;
  value: unknown;
}

interface SchemaRule extends CatalogRule {
  payload: JsonSchema;
}

interface StreamMatch {
  glob: string;
  /** What follows the stream part: property path (and metadata key). */
  rest: string[];
  streamIds: string[];
}

/**
 * Applies `select`, `metadata` and `schema` to a discovered catalog. Called once per run (and by
 * `select --list`) on the catalog discovery returned. Returns a new catalog where every stream and
 * property has a metadata entry with an explicit `selected`, plus what did not match.
 */
export function applySelection(catalog: Catalog, rules: SelectionRules): SelectionResult {
  const streamIds = catalog.streams.map((s) => s.tap_stream_id);
  const select = compileSelect(rules.select ?? DEFAULT_SELECT, streamIds);
  const metadata = compileMetadata(rules.metadata ?? {}, streamIds);
  const schema = compileSchema(rules.schema ?? {}, streamIds);

  const baseline = compileSelect(["!*.*"], streamIds);
  const metadataRules = [...baseline.include, ...baseline.exclude, ...select.include, ...select.exclude];
  metadataRules.push(...metadata.rules);

  const streams = catalog.streams.map((original) => {
    const stream = structuredClone(original);
    applySchemaRules(stream, schema.rules);
    applyMetadataRules(stream, metadataRules);
    return stream;
  });
  const result = withStreams(catalog, streams);

  const unmatchedProperties = new Map<string, UnmatchedProperty>();
  for (const check of [...select.propertyChecks, ...metadata.propertyChecks]) {
    for (const stream of streams) {
      if (!check.streamIds.includes(stream.tap_stream_id) || hasProperty(stream.schema, check.path)) continue;
      const found = { rule: check.rule, streamId: stream.tap_stream_id, property: check.path.join(".") };
      unmatchedProperties.set(JSON.stringify(found), found);
    }
  }

  return {
    catalog: result,
    unmatchedSelect: rules.select === undefined ? [] : select.unmatched,
    unmatchedMetadata: metadata.unmatched,
    unmatchedSchema: schema.unmatched,
    unmatchedProperties: [...unmatchedProperties.values()],
  };
}

/**
 * Narrows a run to some streams, like `meltano el --select/--exclude`: a stream stays selected
 * only if its id matches one of the patterns (when any pattern is not an exclusion) and no `!`
 * pattern. Only deselects; properties are left as they are. A pattern may carry a property part
 * (`public-events.*`), which is ignored. No patterns: the catalog is returned unchanged.
 */
export function narrowToStreams(catalog: Catalog, patterns: readonly string[]): NarrowResult {
  const streamIds = catalog.streams.map((s) => s.tap_stream_id);
  const include: MetadataRule = { streams: [], negated: true, breadcrumb: [], key: SELECTED, value: false };
  const exclude: MetadataRule = { streams: [], negated: false, breadcrumb: [], key: SELECTED, value: false };
  const unmatched: string[] = [];
  for (const raw of patterns) {
    const negated = raw.startsWith("!");
    const match = resolveStream(splitPath(negated ? raw.slice(1) : raw), streamIds, 0);
    (negated ? exclude : include).streams.push(match.glob);
    if (match.streamIds.length === 0) unmatched.push(raw);
  }
  const rules = [include, exclude].filter((r) => r.streams.length > 0);

  const streams = catalog.streams.map((original) => {
    const stream = structuredClone(original);
    if (rules.length > 0) applyMetadataRules(stream, rules);
    return stream;
  });
  return { catalog: withStreams(catalog, streams), unmatched: unique(unmatched) };
}

/** The streams a run extracts, in catalog order. */
export function selectedStreams(catalog: Catalog): CatalogStream[] {
  return catalog.streams.filter(isStreamSelected);
}

/**
 * The top-level properties extracted for a stream (whether or not the stream itself is
 * selected), in schema order: automatic ones always, unsupported ones never.
 */
export function selectedProperties(stream: CatalogStream): string[] {
  return Object.keys(stream.schema.properties ?? {}).filter((name) => isPropertySelected(stream, [name]));
}

/** Every stream and property with its selection, for `sluice select --list`. */
export function listSelection(catalog: Catalog): StreamSelection[] {
  return catalog.streams.map((stream) => ({
    streamId: stream.tap_stream_id,
    selected: isStreamSelected(stream),
    properties: [...propertyPaths(stream.schema, [])].map((path) => ({
      name: path.join("."),
      selected: isPropertySelected(stream, path),
      inclusion: inclusionOf(stream, path),
    })),
  }));
}

// ---------------------------------------------------------------------------------------------
// Reading selection. Follows the Singer SDK's `MetadataMapping._breadcrumb_is_selected`, which is
// what SDK taps and Meltano's `select --list` agree on.

function isStreamSelected(stream: CatalogStream): boolean {
  const metadata = entryOf(stream, [])?.metadata;
  if (metadata?.inclusion === "unsupported") return false;
  if (metadata?.inclusion === "automatic") return true;
  if (typeof metadata?.[SELECTED] === "boolean") return metadata[SELECTED];
  // singer-python's `CatalogEntry.is_selected` still honours the legacy top-level flag.
  const legacy: unknown = (stream as { selected?: unknown }).selected;
  if (typeof legacy === "boolean") return legacy;
  return metadata?.["selected-by-default"] === true;
}

function isPropertySelected(stream: CatalogStream, path: readonly string[]): boolean {
  if (path.length > 1 && !isPropertySelected(stream, path.slice(0, -1))) return false;
  const metadata = entryOf(stream, propertyBreadcrumb(path))?.metadata;
  // No entry: Meltano would have added one (automatic, or available under a selected parent).
  if (metadata === undefined) return true;
  if (metadata.inclusion === "unsupported") return false;
  if (metadata.inclusion === "automatic") return true;
  if (typeof metadata[SELECTED] === "boolean") return metadata[SELECTED];
  if (typeof metadata["selected-by-default"] === "boolean") return metadata["selected-by-default"];
  return true;
}

function inclusionOf(stream: CatalogStream, path: readonly string[]): string {
  const entry = entryOf(stream, propertyBreadcrumb(path));
  if (entry === undefined) return path.length === 1 ? "automatic" : "available";
  const inclusion = entry.metadata.inclusion;
  return typeof inclusion === "string" ? inclusion : "available";
}

function entryOf(stream: CatalogStream, breadcrumb: readonly string[]): MetadataEntry | undefined {
  return (stream.metadata ?? []).find(
    (m) => m.breadcrumb.length === breadcrumb.length && m.breadcrumb.every((b, i) => b === breadcrumb[i]),
  );
}

// ---------------------------------------------------------------------------------------------
// Compiling the extras into rules.

interface PropertyCheck {
  rule: string;
  streamIds: string[];
  path: string[];
}

function compileSelect(patterns: readonly string[], streamIds: readonly string[]) {
  const include: MetadataRule[] = [];
  const exclude: MetadataRule[] = [];
  const unmatched: string[] = [];
  const propertyChecks: PropertyCheck[] = [];
  const rule = (value: boolean, stream: string, properties: readonly string[]): MetadataRule => ({
    streams: [stream],
    negated: false,
    breadcrumb: propertyBreadcrumb(properties),
    key: SELECTED,
    value,
  });

  for (const raw of patterns) {
    const negated = raw.startsWith("!");
    const match = resolveStream(splitPath(negated ? raw.slice(1) : raw), streamIds, 0);
    if (match.streamIds.length === 0) unmatched.push(raw);
    const selected = !negated;
    const rules = selected ? include : exclude;
    const properties = match.rest.join(".") === "" ? [] : match.rest;

    if (properties.length === 0) {
      // A stream alone behaves like `<stream>.*`.
      rules.push(rule(selected, match.glob, []), rule(selected, match.glob, ["*"]));
      continue;
    }
    if (selected || (properties.length === 1 && properties[0] === "*"))
      rules.push(rule(selected, match.glob, []));
    rules.push(rule(selected, match.glob, properties));
    if (selected) {
      // Selecting a nested property selects the objects that contain it.
      for (let depth = 1; depth < properties.length; depth += 1) {
        rules.push(rule(selected, match.glob, properties.slice(0, depth)));
      }
    }
    if (!properties.some(isGlob))
      propertyChecks.push({ rule: raw, streamIds: match.streamIds, path: properties });
  }
  return { include, exclude, unmatched: unique(unmatched), propertyChecks };
}

function compileMetadata(config: Readonly<Record<string, unknown>>, streamIds: readonly string[]) {
  const rules: MetadataRule[] = [];
  const unmatched: string[] = [];
  const propertyChecks: PropertyCheck[] = [];
  for (const [key, value] of Object.entries(config)) {
    const leaves = flatten(value, splitPath(key));
    // An empty entry sets nothing but still names a stream that should exist.
    let matchedAny = leaves.length === 0 && resolveStream(splitPath(key), streamIds, 0).streamIds.length > 0;
    for (const leaf of leaves) {
      if (leaf.segments.length < 2) {
        throw new ConfigError(
          `metadata.${key}: expected "<stream>: {<metadata key>: <value>}", e.g. "${key}: {replication-method: INCREMENTAL}"`,
        );
      }
      const match = resolveStream(leaf.segments, streamIds, 1);
      matchedAny ||= match.streamIds.length > 0;
      const properties = match.rest.slice(0, -1);
      rules.push({
        streams: [match.glob],
        negated: false,
        breadcrumb: propertyBreadcrumb(properties),
        key: match.rest[match.rest.length - 1]!,
        value: leaf.value,
      });
      if (properties.length > 0 && !properties.some(isGlob)) {
        propertyChecks.push({ rule: leaf.segments.join("."), streamIds: match.streamIds, path: properties });
      }
    }
    if (!matchedAny) unmatched.push(key);
  }
  return { rules, unmatched, propertyChecks };
}

function compileSchema(config: Readonly<Record<string, unknown>>, streamIds: readonly string[]) {
  const rules: SchemaRule[] = [];
  const unmatched: string[] = [];
  const add = (setting: string, stream: string, properties: string[], payload: unknown) => {
    if (!isObject(payload)) throw new ConfigError(`schema.${setting}: expected a JSON schema object`);
    rules.push({ streams: [stream], negated: false, breadcrumb: propertyBreadcrumb(properties), payload });
  };
  for (const [key, value] of Object.entries(config)) {
    const match = resolveStream(splitPath(key), streamIds, 0);
    if (match.streamIds.length === 0) unmatched.push(key);
    if (match.rest.length > 0) {
      // `"<stream>.<property>": {type: ...}`, the flat spelling Meltano also accepts.
      add(key, match.glob, match.rest, value);
      continue;
    }
    if (!isObject(value))
      throw new ConfigError(`schema.${key}: expected "<property>: <JSON schema>" entries`);
    for (const [property, payload] of Object.entries(value)) {
      add(`${key}.${property}`, match.glob, splitPath(property), payload);
    }
  }
  return { rules, unmatched };
}

/**
 * Splits a pattern on the dots not escaped as `\.` (Meltano's `UNESCAPED_DOT`) and unescapes
 * them.
 */
function splitPath(path: string): string[] {
  return path.split(/(?<!\\)\./).map((part) => part.replaceAll("\\.", "."));
}

/**
 * Decides where the stream part of a dotted path ends. Meltano takes the first part; for stream
 * ids that contain dots, longer prefixes are tried when the first part matches no stream.
 * `keep` parts are left for what follows (the metadata key).
 */
function resolveStream(segments: readonly string[], streamIds: readonly string[], keep: number): StreamMatch {
  for (let length = 1; length <= segments.length - keep; length += 1) {
    const glob = segments.slice(0, length).join(".");
    const matched = streamIds.filter((id) => matchesGlob(id, glob));
    if (matched.length > 0) return { glob, rest: segments.slice(length), streamIds: matched };
  }
  return { glob: segments[0] ?? "", rest: segments.slice(1), streamIds: [] };
}

/** Meltano flattens `metadata` with dots; an empty object sets nothing, arrays are values. */
function flatten(value: unknown, segments: string[]): { segments: string[]; value: unknown }[] {
  if (!isObject(value)) return [{ segments, value }];
  return Object.entries(value).flatMap(([key, child]) => flatten(child, [...segments, ...splitPath(key)]));
}

// ---------------------------------------------------------------------------------------------
// Applying rules to one (already copied) stream.

function applySchemaRules(stream: CatalogStream, rules: readonly SchemaRule[]): void {
  const matching = rules.filter((rule) => streamMatches(rule, stream.tap_stream_id));
  if (matching.length === 0) return;
  if (!isObject(stream.schema)) stream.schema = { type: "object" };
  for (const rule of matching) ensureProperty(stream.schema, rule.breadcrumb);
  replaceProperties(stream.schema, [], matching);
}

/** Creates the schema nodes a rule names, so `schema` can add a column discovery did not see. */
function ensureProperty(node: Record<string, unknown>, breadcrumb: readonly string[]): void {
  let current = node;
  for (const [index, key] of breadcrumb.entries()) {
    if (isGlob(key)) {
      for (const existing of Object.keys(current).filter((name) => matchesGlob(name, key))) {
        ensureProperty(current, [existing, ...breadcrumb.slice(index + 1)]);
      }
      return;
    }
    const next = current[key];
    if (isObject(next)) {
      current = next;
    } else {
      const created: Record<string, unknown> = {};
      current[key] = created;
      current = created;
    }
  }
}

function replaceProperties(node: JsonSchema, parent: readonly string[], rules: readonly SchemaRule[]): void {
  const properties = node.properties;
  if (!isObject(properties)) return;
  for (const name of Object.keys(properties)) {
    const breadcrumb = [...parent, "properties", name];
    for (const rule of rules) {
      if (breadcrumbMatches(rule.breadcrumb, breadcrumb)) properties[name] = structuredClone(rule.payload);
    }
    const child = properties[name];
    if (isObject(child)) replaceProperties(child, breadcrumb, rules);
  }
}

function applyMetadataRules(stream: CatalogStream, rules: readonly MetadataRule[]): void {
  const id = stream.tap_stream_id;
  if (!Array.isArray(stream.metadata)) stream.metadata = [];
  const metadata = stream.metadata;
  if (entryOf(stream, []) === undefined) metadata.unshift({ breadcrumb: [], metadata: {} });
  const known = new Set(metadata.map((entry) => entry.breadcrumb.join(SEPARATOR)));
  for (const path of propertyPaths(stream.schema, [])) {
    const breadcrumb = propertyBreadcrumb(path);
    if (known.has(breadcrumb.join(SEPARATOR))) continue;
    metadata.push({ breadcrumb, metadata: { inclusion: path.length === 1 ? "automatic" : "available" } });
  }

  for (const rule of rules) {
    if (ruleMatches(rule, id, [])) {
      Object.assign(stream, { [rule.key.replaceAll("-", "_")]: structuredClone(rule.value) });
    }
  }
  for (const entry of metadata) {
    for (const rule of rules) {
      if (ruleMatches(rule, id, entry.breadcrumb)) entry.metadata[rule.key] = structuredClone(rule.value);
    }
    // Meltano refuses `selected: true` on unsupported entries and may leave automatic ones at
    // `selected: false`; writing what a tap will actually do keeps both kinds of tap in agreement.
    if (entry.metadata.inclusion === "automatic") entry.metadata[SELECTED] = true;
    if (entry.metadata.inclusion === "unsupported") entry.metadata[SELECTED] = false;
  }
  if ("selected" in stream) Object.assign(stream, { selected: entryOf(stream, [])?.metadata[SELECTED] });
}

function streamMatches(rule: CatalogRule, streamId: string): boolean {
  const matched = rule.streams.some((glob) => matchesGlob(streamId, glob));
  // A negated rule (the `--select` filter) applies to the streams that match none of its globs.
  return rule.negated ? !matched : matched;
}

function ruleMatches(rule: CatalogRule, streamId: string, breadcrumb: readonly string[]): boolean {
  return streamMatches(rule, streamId) && breadcrumbMatches(rule.breadcrumb, breadcrumb);
}

// Breadcrumbs are compared joined, as Meltano does with `fnmatch(".".join(...))` so that `*`
// reaches nested properties; NUL rather than "." keeps a property named `a.b` apart from `a`/`b`.
const SEPARATOR = "\u0000";
const breadcrumbPatterns = new Map<string, RegExp>();

function breadcrumbMatches(pattern: readonly string[], breadcrumb: readonly string[]): boolean {
  const key = pattern.join(SEPARATOR);
  let regExp = breadcrumbPatterns.get(key);
  if (regExp === undefined) {
    regExp = new RegExp(`^(?:${pattern.map(globSource).join("\\u{0}")})$`, "su");
    breadcrumbPatterns.set(key, regExp);
  }
  return regExp.test(breadcrumb.join(SEPARATOR));
}

// ---------------------------------------------------------------------------------------------
// Small helpers.

/** `["a", "b"]` -> `["properties", "a", "properties", "b"]`. */
function propertyBreadcrumb(path: readonly string[]): string[] {
  return path.flatMap((name) => ["properties", name]);
}

/** Every property path of a schema, depth first, parents before their children. */
function* propertyPaths(schema: JsonSchema | undefined, parent: readonly string[]): Generator<string[]> {
  const properties = schema?.properties;
  if (!isObject(properties)) return;
  for (const [name, child] of Object.entries(properties)) {
    const path = [...parent, name];
    yield path;
    if (isObject(child)) yield* propertyPaths(child, path);
  }
}

function hasProperty(schema: JsonSchema | undefined, path: readonly string[]): boolean {
  let node: unknown = schema;
  for (const name of path) {
    const properties: unknown = isObject(node) ? node.properties : undefined;
    if (!isObject(properties) || !Object.hasOwn(properties, name)) return false;
    node = properties[name];
  }
  return true;
}

/** A copy of the catalog's other top-level fields around already-copied streams. */
function withStreams(catalog: Catalog, streams: CatalogStream[]): Catalog {
  const { streams: _original, ...rest } = catalog;
  return { ...structuredClone(rest), streams };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function unique(values: readonly string[]): string[] {
  return [...new Set(values)];
}
