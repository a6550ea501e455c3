import type { StreamBookmark } from "../../protocol/state.js";
import { timestampToRfc3339 } from "../batch-rows.js";
import { copyTextRowField, csvRowField } from "../batch-spooler.js";
import type { ColumnType } from "../column-type.js";
import type { StreamPlan } from "../connector.js";
import { DataError } from "../../errors.js";
import { quoteIdent, quoteLiteral } from "./postgres-connection.js";

/**
 * INCREMENTAL reads: `key >= bookmark ORDER BY key`, so rows sharing the last key value are read
 * again rather than lost, and the bookmark is the key of the last row read. A key value no
 * bookmark can continue from (NULL, and the infinities and NaN PostgreSQL sorts after every other
 * value) is kept out of the ordered read and read on its own after it, on every run.
 */
export function incrementalQueries(options: {
  streamId: string;
  key: { name: string; type: ColumnType; nullable: boolean; pg: { formatted: string } };
  bookmark: StreamBookmark | undefined;
  /** The select list and the quoted table. */
  select: string;
  from: string;
}): { ordered: string; unplaceable: string | undefined; warnings: string[] } {
  const { key, bookmark, select, from } = options;
  const k = quoteIdent(key.name);
  const warnings: string[] = [];
  let fromValue = bookmark?.replication_key === key.name ? bookmark.replication_key_value : undefined;
  const nonFinite = nonFiniteKeyValues(key.type, key.pg.formatted);
  if (fromValue !== undefined && fromValue !== null && isNonFiniteText(String(fromValue))) {
    // NOTE: an earlier version bookmarked such a value, after which `>=` found nothing else
    // for good. Read from the start to recover what was skipped.
    warnings.push(
      `${options.streamId}: the stored bookmark ${key.name} = ${String(fromValue)} cannot order any later row; reading the table from the start (an append-only table gets its rows again)`,
    );
    fromValue = undefined;
  }
  const finite = nonFinite ? ` AND ${k} NOT IN (${nonFinite})` : "";
  // Equality and IS NULL lookups, which an index on the key serves as it serves the range; none
  // at all for a NOT NULL key of a type without such values (an integer id): nothing to read twice.
  const unplaceableQuery = (): string | undefined => {
    const conditions = [
      ...(key.nullable ? [`${k} IS NULL`] : []),
      ...(nonFinite ? [`${k} IN (${nonFinite})`] : []),
    ];
    return conditions.length > 0
      ? `SELECT ${select} FROM ${from} WHERE ${conditions.join(" OR ")}`
      : undefined;
  };
  const where =
    fromValue === undefined || fromValue === null
      ? `${k} IS NOT NULL${finite}`
      : `${k} >= ${quoteLiteral(String(fromValue))}::${key.pg.formatted}${finite}`;
  return {
    ordered: `SELECT ${select} FROM ${from} WHERE ${where} ORDER BY ${k}`,
    unplaceable: unplaceableQuery(),
    warnings,
  };
}

/**
 * How copies are written, as the spooler's options: COPY text when the loader reads it
 * (PostgreSQL's cheapest text output), else CSV with the loader's quote character, or `"` (`{}`).
 */
export type CopyDialect = { format: "copy-text" } | { quote: string } | Record<string, never>;

/** Per kind, the values PostgreSQL sorts after (or before) every other and no `>=` continues from. */
const NON_FINITE: Partial<Record<ColumnType["kind"], readonly string[]>> = {
  date: ["infinity", "-infinity"],
  timestamp: ["infinity", "-infinity"],
  timestamptz: ["infinity", "-infinity"],
  decimal: ["NaN", "Infinity", "-Infinity"],
  float: ["NaN", "Infinity", "-Infinity"],
};

/**
 * The values of a replication key's type that sort but cannot be a bookmark (`key >= bookmark`
 * from them finds nothing new), as SQL literals; undefined for types without such values.
 * PostgreSQL sorts `infinity` and `NaN` above every other value, so the last row of an ordered
 * read would carry one into the state, and every later row would be skipped for good.
 */
function nonFiniteKeyValues(type: ColumnType, sqlType: string): string | undefined {
  const values = NON_FINITE[type.kind];
  return values?.map((v) => `${quoteLiteral(v)}::${sqlType}`).join(", ");
}

/** A bookmark value that is one of those (PostgreSQL reads them without regard to case). */
function isNonFiniteText(value: string): boolean {
  const text = value.trim().toLowerCase().replace(/^\+/, "");
  return Object.values(NON_FINITE).some((values) => values.some((v) => v.toLowerCase() === text));
}

/** The replication key of a batch's last row, as text PostgreSQL reads back; timestamps as RFC 3339. */
export function bookmarkValue(
  lastRow: Buffer,
  keyIndex: number,
  plan: StreamPlan,
  dialect: CopyDialect,
): string {
  const value =
    "format" in dialect
      ? copyTextRowField(lastRow, keyIndex)
      : csvRowField(lastRow, keyIndex, "quote" in dialect ? dialect.quote : undefined);
  if (value === undefined)
    throw new DataError(`${plan.schema.streamId}: could not read the replication key of a row`);
  const kind = plan.schema.columns[keyIndex]!.type.kind;
  if (kind === "timestamptz" || kind === "timestamp") return timestampToRfc3339(value);
  return value;
}
