import { joinPath } from "./problem-list.js";
import { isMapping } from "./value-reader.js";

/** A variable referenced in the file that the environment does not set. */
export interface UnsetVariable {
  /** Where the reference is: `plugins.extractors[0].config.password`. */
  path: string;
  variable: string;
}

// `\$` and `$$` are a literal `$`; `${NAME}` and `$NAME` are references. Anything else after `$`
// (a `$` at the end, `$1`, `$-`) stays as it is, so that passwords with a `$` in them survive.
const REFERENCE = /\\\$|\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g;

/**
 * Replaces `$VAR` and `${VAR}` in every string of `value` (recursing into lists and mappings)
 * with the variable's value from `env`. References to unset variables become empty strings and are
 * reported in `unset` with the path of the string that holds them; the caller decides whether that
 * is a problem (it is for a plugin being run, not for one merely present in the file). The names
 * of the variables it replaced go to `used`, when given.
 */
export function expandEnvVars(
  value: unknown,
  env: Readonly<Record<string, string | undefined>>,
  path: string,
  unset: UnsetVariable[] = [],
  used?: Set<string>,
): unknown {
  if (typeof value === "string") {
    return value.replace(REFERENCE, (match, braced: string | undefined, bare: string | undefined) => {
      const variable = braced ?? bare;
      if (variable === undefined) return "$";
      const replacement = env[variable];
      if (replacement === undefined) {
        unset.push({ path, variable });
        return "";
      }
      used?.add(variable);
      return replacement;
    });
  }
  if (Array.isArray(value))
    return value.map((item, index) => expandEnvVars(item, env, joinPath(path, index), unset, used));
  if (isMapping(value)) {
    const expanded: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value))
      expanded[key] = expandEnvVars(item, env, joinPath(path, key), unset, used);
    return expanded;
  }
  return value;
}

/** The message for an unset variable, naming the variable and where it is used. */
export function unsetVariableProblem(reference: UnsetVariable): string {
  return `${reference.path}: environment variable ${reference.variable} is not set (set it in the environment or in .env)`;
}

/** Expands each `env:` layer's values, each layer seeing the ones below it and the process environment. */
export interface EnvLayer {
  vars: Readonly<Record<string, string>>;
  /** Where the `env:` mapping is in the file. */
  path: string;
}

export function expandEnvLayers(
  layers: readonly EnvLayer[],
  base: Readonly<Record<string, string>>,
  unset: UnsetVariable[],
): Record<string, string> {
  const merged: Record<string, string> = {};
  for (const layer of layers) {
    for (const [name, value] of Object.entries(layer.vars)) {
      merged[name] = expandEnvVars(
        value,
        { ...merged, ...base },
        joinPath(layer.path, name),
        unset,
      ) as string;
    }
  }
  return merged;
}
