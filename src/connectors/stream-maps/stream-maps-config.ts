import { z } from "zod";
import { suggestionSuffix } from "../../project/did-you-mean.js";
import { MapExpressionError, parseMapExpression, type MapExpression } from "./map-expression.js";

/**
 * A mapping's `config` (meltano-map-transformer's settings) compiled into what `StreamMapper`
 * applies: per input stream, the output streams it becomes and how each is made. Parsed with zod
 * where it enters; every expression is parsed here, so that a mapping outside sluice's built-in
 * subset is refused when the project is checked, before any run.
 */

/** meltano/sdk's spelling for "remove this stream or property". */
export const NULL_STRING = "__NULL__";

/** An expression with its text, for messages. */
export interface CompiledExpression {
  text: string;
  expression: MapExpression;
}

/** How one output stream is made from one input stream. */
export interface StreamMapPlan {
  input: string;
  output: string;
  /** Rows for which it is falsy are dropped (or, in a change stream, deleted). */
  filter?: CompiledExpression;
  /** Properties computed (or replaced), in the order the mapping lists them. */
  computed: Map<string, CompiledExpression>;
  /** Properties removed (`__NULL__`). */
  dropped: Set<string>;
  /** `__else__: __NULL__`: properties not named are removed. */
  dropOthers: boolean;
  keyProperties?: string[];
}

export interface CompiledMapping {
  /** The mapping's name in the project, in every message. */
  name: string;
  /** The output streams of each input stream named in `stream_maps`; `[]` drops the stream. */
  byInput: Map<string, StreamMapPlan[]>;
  /** `__else__: __NULL__` at the top: streams `stream_maps` does not name are dropped. */
  dropUnlisted: boolean;
  streamMapConfig: Record<string, unknown>;
}

const SETTINGS = ["stream_maps", "stream_map_config", "flattening_enabled", "flattening_max_depth"];

const mappingConfigSchema = z
  .object({
    stream_maps: z.record(z.string(), z.unknown()),
    stream_map_config: z.record(z.string(), z.unknown()).nullish(),
    flattening_enabled: z.boolean().nullish(),
    flattening_max_depth: z.number().int().nullish(),
  })
  .passthrough();

const isNull = (value: unknown): boolean => value === null || value === NULL_STRING;

/** What to do when a mapping cannot run built in. */
export const EXTERNAL_HINT =
  "to run it as Meltano does, set `builtin: false` on the mapper (its pip_url is installed by `sluice install` and run as a Singer process)";

/**
 * Compiles a mapping's config. Returns the compiled mapping, or the problems (each naming the
 * mapping, the stream, the property and the expression) when any part is outside the subset.
 */
export function compileMapping(
  name: string,
  config: Record<string, unknown>,
): { mapping: CompiledMapping; problems: [] } | { mapping?: undefined; problems: string[] } {
  const problems: string[] = [];
  const where = `mapping "${name}"`;
  const parsed = mappingConfigSchema.safeParse(config);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return {
      problems: [
        `${where}: config.${issue.path.join(".") || "stream_maps"}: ${issue.path[0] === "stream_maps" && issue.code === "invalid_type" ? "missing or not a mapping: list the streams to map under `stream_maps`" : issue.message}`,
      ],
    };
  }
  const settings = parsed.data;
  for (const key of Object.keys(settings)) {
    if (!SETTINGS.includes(key)) {
      problems.push(
        `${where}: config.${key}: not a setting of meltano-map-transformer that sluice runs built in${suggestionSuffix(key, SETTINGS)}; ${EXTERNAL_HINT}`,
      );
    }
  }
  if (settings.flattening_enabled) {
    problems.push(
      `${where}: config.flattening_enabled: flattening is not in sluice's built-in subset; ${EXTERNAL_HINT}`,
    );
  }
  const byInput = new Map<string, StreamMapPlan[]>();
  let dropUnlisted = false;
  const add = (input: string, plan: StreamMapPlan | undefined): void => {
    const plans = byInput.get(input) ?? [];
    if (plan) plans.push(plan);
    byInput.set(input, plans);
  };
  for (const [stream, value] of Object.entries(settings.stream_maps)) {
    const at = `${where}: stream_maps.${stream}`;
    if (stream === "__else__") {
      if (isNull(value)) dropUnlisted = true;
      else
        problems.push(
          `${at}: only \`__else__: __NULL__\` (drop the other streams) is in sluice's built-in subset; ${EXTERNAL_HINT}`,
        );
      continue;
    }
    if (/[*?[]/.test(stream)) {
      problems.push(
        `${at}: stream name patterns are not in sluice's built-in subset; name each stream, or ${EXTERNAL_HINT}`,
      );
      continue;
    }
    if (isNull(value)) {
      // Dropped, unless another entry copies it (`__source__`), which `add` keeps apart.
      if (!byInput.has(stream)) byInput.set(stream, []);
      continue;
    }
    if (typeof value !== "object" || Array.isArray(value)) {
      problems.push(`${at}: expected a mapping of properties or __NULL__, got ${JSON.stringify(value)}`);
      continue;
    }
    const plan = compileStream(stream, value as Record<string, unknown>, at, problems);
    if (plan) add(plan.input, plan);
  }
  // An entry naming only a source stream's copy leaves the source itself as it is.
  for (const [input, plans] of byInput) {
    const listed = Object.prototype.hasOwnProperty.call(settings.stream_maps, input);
    if (!listed && !dropUnlisted) plans.unshift(identityPlan(input));
  }
  if (problems.length > 0) return { problems };
  return {
    mapping: { name, byInput, dropUnlisted, streamMapConfig: settings.stream_map_config ?? {} },
    problems: [],
  };
}

/** A stream passed on unchanged. */
export function identityPlan(stream: string): StreamMapPlan {
  return { input: stream, output: stream, computed: new Map(), dropped: new Set(), dropOthers: false };
}

function compileStream(
  stream: string,
  map: Record<string, unknown>,
  at: string,
  problems: string[],
): StreamMapPlan | undefined {
  const text = (key: string): string | undefined => {
    const value = map[key];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== "string") {
      problems.push(`${at}.${key}: expected a string, got ${JSON.stringify(value)}`);
      return undefined;
    }
    return value;
  };
  const source = text("__source__");
  const alias = text("__alias__");
  const plan: StreamMapPlan = {
    input: source ?? stream,
    output: alias ?? stream,
    computed: new Map(),
    dropped: new Set(),
    dropOthers: false,
  };
  const compile = (
    key: string,
    expressionText: string,
    selfName?: string,
  ): CompiledExpression | undefined => {
    try {
      return {
        text: expressionText,
        expression: parseMapExpression(expressionText, selfName !== undefined ? { selfName } : {}),
      };
    } catch (error) {
      if (!(error instanceof MapExpressionError)) throw error;
      problems.push(
        `${at}.${key}: \`${expressionText}\`: ${error.message} (at character ${error.offset + 1}); sluice runs md5(), str(), int(), float(), bool(), comparisons, and/or/not, is None and arithmetic built in; ${EXTERNAL_HINT}`,
      );
      return undefined;
    }
  };
  for (const [key, value] of Object.entries(map)) {
    switch (key) {
      case "__source__":
      case "__alias__":
        continue;
      case "__filter__": {
        const filter = text(key);
        if (filter !== undefined) {
          const compiled = compile(key, filter);
          if (compiled) plan.filter = compiled;
        }
        continue;
      }
      case "__else__":
        if (isNull(value)) plan.dropOthers = true;
        else
          problems.push(
            `${at}.__else__: only \`__else__: __NULL__\` (drop the properties not named) is supported`,
          );
        continue;
      case "__key_properties__":
        if (!Array.isArray(value) || value.some((k) => typeof k !== "string")) {
          problems.push(`${at}.__key_properties__: expected a list of property names`);
        } else {
          plan.keyProperties = value as string[];
        }
        continue;
    }
    if (key.startsWith("__") && key.endsWith("__")) {
      problems.push(
        `${at}.${key}: not an option sluice knows (__alias__, __source__, __filter__, __else__, __key_properties__)${suggestionSuffix(key, ["__alias__", "__source__", "__filter__", "__else__", "__key_properties__"])}`,
      );
      continue;
    }
    if (isNull(value)) {
      plan.dropped.add(key);
      continue;
    }
    if (typeof value !== "string") {
      problems.push(
        `${at}.${key}: expected an expression (a string) or __NULL__, got ${JSON.stringify(value)}`,
      );
      continue;
    }
    const compiled = compile(key, value, key);
    if (compiled) plan.computed.set(key, compiled);
  }
  return plan;
}
