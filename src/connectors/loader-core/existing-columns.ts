import { SchemaError } from "../../errors.js";
import type { ColumnType } from "../column-type.js";

/**
 * Tables another target created (pipelinewise's target-postgres, jwills' target-duckdb, adswerve's
 * target-bigquery), decided once for every warehouse. Such a table has its own types: arrays as
 * `jsonb`, numbers as `double precision`, uuids and dates as `character varying`, timestamps
 * without their offset. Downstream models read those types, so by default (`existing_tables:
 * continue`) they are kept wherever they hold the values, and each value is converted to the
 * column's type as it loads. Every column is decided before anything changes: one that cannot
 * hold the values refuses the stream with the table untouched, never half-converted.
 *
 * A warehouse says, per column, whether its type holds what the stream sends (`ColumnFit`), as it
 * knows its own types; the rules of what happens next are here.
 */

/** Whether an existing column of another target's table holds what the stream sends. */
export type ColumnFit =
  /** The type sluice itself would create. */
  | { fits: "same" }
  /** Kept: every value converts into it; `loss` says what it does not keep (absent: nothing). */
  | { fits: "holds"; loss?: string }
  /** It cannot hold the values (text into `integer`); `reason` says why. */
  | { fits: "refused"; reason: string };

/**
 * What a kept column does not keep, worded once for every warehouse (the same conversion loses
 * the same thing in PostgreSQL, DuckDB and BigQuery).
 */
export const FIDELITY_LOST = {
  text: "kept as its text",
  jsonArray: "kept as a JSON array",
  float64: "about 15 significant digits kept",
  float32: "about 6 significant digits kept",
  integersBeyond2To53: "integers beyond 2^53 (about 9.0e15) are rounded",
  offsetInUtc: "the offset is not kept: instants are stored in UTC",
  readAsUtc: "read as UTC",
  timeOffset: "the offset is not kept",
} as const;

/** A wanted column and the existing column of another type it goes into. */
export interface KeptColumn {
  /** The column, as the table names it. */
  name: string;
  type: ColumnType;
  /** The existing column's type, as the warehouse spells it. */
  current: string;
  /** The type sluice would have made, as the warehouse spells it. */
  wanted: string;
  loss?: string;
}

export interface RefusedColumn {
  name: string;
  current: string;
  wanted: string;
  reason: string;
}

export interface ExistingColumnsPlan<C extends { name: string; type: ColumnType }> {
  /** Wanted columns the table does not have: added. */
  add: C[];
  /** Existing columns of another type that hold the values: kept as they are. */
  kept: KeptColumn[];
  /** Existing columns that cannot hold the values. */
  refused: RefusedColumn[];
}

/**
 * Decides every wanted column against the table's (`existing`: name → type) before anything is
 * changed. `fit` is the warehouse's judgement; `spell` its name for a sluice type.
 */
export function planExistingColumns<C extends { name: string; type: ColumnType }>(options: {
  wanted: readonly C[];
  existing: ReadonlyMap<string, string>;
  fit: (type: ColumnType, current: string) => ColumnFit;
  spell: (type: ColumnType) => string;
  caseInsensitive?: boolean;
}): ExistingColumnsPlan<C> {
  const fold = (name: string): string => (options.caseInsensitive ? name.toLowerCase() : name);
  const current = new Map([...options.existing].map(([name, type]) => [fold(name), { name, type }]));
  const plan: ExistingColumnsPlan<C> = { add: [], kept: [], refused: [] };
  for (const column of options.wanted) {
    const found = current.get(fold(column.name));
    if (found === undefined) {
      plan.add.push(column);
      continue;
    }
    const fit = options.fit(column.type, found.type);
    const wanted = options.spell(column.type);
    if (fit.fits === "holds") {
      plan.kept.push({
        name: found.name,
        type: column.type,
        current: found.type,
        wanted,
        ...(fit.loss !== undefined ? { loss: fit.loss } : {}),
      });
    } else if (fit.fits === "refused") {
      plan.refused.push({ name: found.name, current: found.type, wanted, reason: fit.reason });
    }
  }
  return plan;
}

/**
 * The one warning for a table whose columns are kept: each column, what it holds and what is
 * lost. Undefined when nothing is kept.
 */
export function keptColumnsWarning(where: string, kept: readonly KeptColumn[]): string | undefined {
  if (kept.length === 0) return undefined;
  const lines = kept.map(
    (k) => `  - ${k.name}: ${k.wanted} in a ${k.current} column${k.loss ? `: ${k.loss}` : ""}`,
  );
  return (
    `${where} was not created by sluice; its column types are kept where they hold the values (existing_tables: continue), and values are converted to them as they load:\n${lines.join("\n")}\n` +
    "To rebuild the table with sluice's types instead, set `existing_tables: rebuild` on the loader and run with --full-refresh."
  );
}

/** Columns of another target's table that cannot hold the values: nothing was changed. */
export function cannotHoldError(
  where: string,
  streamId: string,
  refused: readonly RefusedColumn[],
): SchemaError {
  const lines = refused.map((r) => `  - ${r.name} (${r.current}, sluice sends ${r.wanted}): ${r.reason}`);
  const which = refused.length === 1 ? "1 column" : `${refused.length} columns`;
  return new SchemaError(
    `${where} was not created by sluice, and ${which} of it cannot hold what stream ${streamId} sends, so no change was made to the table:\n${lines.join("\n")}\n` +
      `To rebuild the table with sluice's types, set \`existing_tables: rebuild\` on the loader and run \`sluice run ... --full-refresh --select ${streamId}\`; or convert or drop ${refused.length === 1 ? "that column" : "those columns"} yourself.`,
  );
}

/** `existing_tables: rebuild` for a stream that loads into the table in place. */
export function rebuildNeedsFullRefreshError(
  where: string,
  streamId: string,
  differing: readonly { name: string; current: string; wanted: string }[],
): SchemaError {
  const columns = differing.map((c) => `${c.name} (${c.current}, sluice: ${c.wanted})`).join(", ");
  return new SchemaError(
    `${where} was not created by sluice and its columns are not of sluice's types (${columns}); with \`existing_tables: rebuild\` it is rebuilt only from a whole copy, so no change was made to the table: ` +
      `run \`sluice run ... --full-refresh --select ${streamId}\`, or set \`existing_tables: continue\` to load into it as it is.`,
  );
}
