import { quoteColumn } from "./bigquery-names.js";

/**
 * A table partitioned on a column (`table_config`'s `partition_field`/`partition_type`, adswerve's
 * names), as target-bigquery needs it: to restrict a MERGE to the partitions a batch touches, and
 * to keep every job within BigQuery's partition limits.
 */
export interface ColumnPartitioning {
  /** The column, as BigQuery names it. */
  field: string;
  unit: PartitionUnit;
  /** The column's type: DATE, DATETIME or TIMESTAMP (BigQuery partitions on no other time type). */
  columnType: "DATE" | "DATETIME" | "TIMESTAMP";
}

export type PartitionUnit = "HOUR" | "DAY" | "MONTH" | "YEAR";

/**
 * "Number of partitions modified by a single job": 4,000, and "Number of partitions per
 * partitioned table": 10,000 (https://cloud.google.com/bigquery/quotas#partitioned_tables).
 */
export const PARTITIONS_PER_JOB = 4_000;
export const PARTITIONS_PER_TABLE = 10_000;

/**
 * The partitions a set of rows falls in: each partition's first instant as
 * `YYYY-MM-DD HH:MM:SS` (UTC for TIMESTAMP; a DATE's time is 00:00:00), and whether a row's
 * value is NULL (BigQuery's `__NULL__` partition).
 */
export interface PartitionSet {
  starts: string[];
  hasNull: boolean;
}

/** The partitioning of a table resource (`tables.get`), when it is on a DATE/DATETIME/TIMESTAMP column. */
export function columnPartitioning(
  timePartitioning: { type?: string; field?: string } | undefined,
  fields: readonly { name: string; type: string }[],
): ColumnPartitioning | undefined {
  const field = timePartitioning?.field;
  if (!field) return undefined;
  const column = fields.find((f) => f.name.toLowerCase() === field.toLowerCase());
  const columnType = column?.type === "TIMESTAMP" || column?.type === "DATETIME" || column?.type === "DATE";
  const unit = (timePartitioning.type ?? "DAY").toUpperCase();
  if (!column || !columnType || !["HOUR", "DAY", "MONTH", "YEAR"].includes(unit)) return undefined;
  return {
    field: column.name,
    unit: unit as PartitionUnit,
    columnType: column.type as ColumnPartitioning["columnType"],
  };
}

/** The start of the partition holding `value` (an NDJSON value: PostgreSQL's text), or null. */
export function partitionOf(value: unknown, partitioning: ColumnPartitioning): string | null {
  if (value === null || value === undefined) return null;
  const text = String(value);
  let instant: Date;
  if (partitioning.columnType === "TIMESTAMP") {
    instant = new Date(text.replace(" ", "T").replace(/([+-]\d{2})$/, "$1:00"));
  } else {
    // DATE and DATETIME have no zone: their digits, read as UTC, are the partition's.
    const m = /^(\d{4,})-(\d{2})-(\d{2})(?:[ T](\d{2}))?/.exec(text);
    if (!m) return null;
    instant = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4] ?? 0)));
  }
  if (Number.isNaN(instant.getTime())) return null;
  return formatStart(truncate(instant, partitioning.unit));
}

function truncate(instant: Date, unit: PartitionUnit): Date {
  const y = instant.getUTCFullYear();
  const m = unit === "YEAR" ? 0 : instant.getUTCMonth();
  const d = unit === "YEAR" || unit === "MONTH" ? 1 : instant.getUTCDate();
  const h = unit === "HOUR" ? instant.getUTCHours() : 0;
  const date = new Date(Date.UTC(2000, m, d, h));
  date.setUTCFullYear(y);
  return date;
}

function next(start: Date, unit: PartitionUnit): Date {
  const d = new Date(start.getTime());
  if (unit === "HOUR") d.setUTCHours(d.getUTCHours() + 1);
  else if (unit === "DAY") d.setUTCDate(d.getUTCDate() + 1);
  else if (unit === "MONTH") d.setUTCMonth(d.getUTCMonth() + 1);
  else d.setUTCFullYear(d.getUTCFullYear() + 1);
  return d;
}

function formatStart(d: Date): string {
  return d.toISOString().slice(0, 19).replace("T", " ");
}

function parseStart(text: string): Date {
  return new Date(`${text.replace(" ", "T")}Z`);
}

/**
 * The GoogleSQL that lists the partitions of `staging`'s rows (one row per partition: `part`,
 * the partition's start as `partitionOf` writes it, NULL for NULL values) and whether a row left
 * the column out (`uncarried`: a delete carrying only the key, `_sdc_unchanged`), when such a row
 * cannot say its partition. It reads one column of a table of changes: BigQuery's minimum bill.
 */
export function partitionsSql(
  staging: string,
  partitioning: ColumnPartitioning,
  uncarried: string | undefined,
): string {
  const column = quoteColumn(partitioning.field);
  const start =
    partitioning.columnType === "DATE"
      ? `FORMAT_DATE('%Y-%m-%d 00:00:00', DATE_TRUNC(${column}, ${partitioning.unit}))`
      : partitioning.columnType === "DATETIME"
        ? `FORMAT_DATETIME('%Y-%m-%d %H:%M:%S', DATETIME_TRUNC(${column}, ${partitioning.unit}))`
        : `FORMAT_TIMESTAMP('%Y-%m-%d %H:%M:%S', TIMESTAMP_TRUNC(${column}, ${partitioning.unit}))`;
  return `SELECT ${start} AS part, LOGICAL_OR(${uncarried ?? "FALSE"}) AS uncarried FROM ${staging} GROUP BY 1`;
}

/** Runs of consecutive partitions, each as [first start, the start after the last). */
function runs(starts: readonly string[], unit: PartitionUnit): [Date, Date][] {
  const sorted = [...new Set(starts)].map(parseStart).sort((a, b) => a.getTime() - b.getTime());
  const out: [Date, Date][] = [];
  for (const start of sorted) {
    const last = out[out.length - 1];
    if (last && last[1].getTime() === start.getTime()) last[1] = next(start, unit);
    else out.push([start, next(start, unit)]);
  }
  return out;
}

function literal(d: Date, partitioning: ColumnPartitioning): string {
  const text = formatStart(d);
  if (partitioning.columnType === "DATE") return `DATE '${text.slice(0, 10)}'`;
  if (partitioning.columnType === "DATETIME") return `DATETIME '${text}'`;
  return `TIMESTAMP '${text}+00:00'`;
}

/**
 * A condition keeping the rows of `partitions` and no other, on `column` (a qualified column,
 * `T.\`day\``), made of constants only: BigQuery prunes a partitioned table on a filter that
 * compares its partitioning column with constant expressions, in a MERGE's ON condition too
 * ("Pruning partitions when using a MERGE statement",
 * https://cloud.google.com/bigquery/docs/using-dml-with-partitioned-tables), but not on one that
 * needs a subquery or another table's column (`T.day = S.day` scans every partition). Consecutive
 * partitions are one range; the conjunctions are joined by OR without parentheses (AND binds first).
 */
export function partitionFilter(
  column: string,
  partitions: PartitionSet,
  partitioning: ColumnPartitioning,
): string {
  // The last partition (9999-12-31, where invalid_values: clamp puts the largest values) ends
  // past any value BigQuery holds: its range has no upper bound.
  const terms = runs(partitions.starts, partitioning.unit).map(([from, to]) =>
    to.getUTCFullYear() > 9999
      ? `${column} >= ${literal(from, partitioning)}`
      : `${column} >= ${literal(from, partitioning)} AND ${column} < ${literal(to, partitioning)}`,
  );
  if (partitions.hasNull) terms.push(`${column} IS NULL`);
  return terms.length === 0 ? "FALSE" : `(${terms.join(" OR ")})`;
}

/** `partitions` in groups of at most `size` partitions (the NULL partition counts as one). */
export function partitionGroups(partitions: PartitionSet, size = PARTITIONS_PER_JOB): PartitionSet[] {
  const starts = [...new Set(partitions.starts)].sort();
  const groups: PartitionSet[] = [];
  for (let i = 0; i < starts.length; i += size)
    groups.push({ starts: starts.slice(i, i + size), hasNull: false });
  if (partitions.hasNull) {
    const last = groups[groups.length - 1];
    if (last && last.starts.length < size) last.hasNull = true;
    else groups.push({ starts: [], hasNull: true });
  }
  return groups;
}

/** How many partitions a set holds. */
export function partitionCount(partitions: PartitionSet): number {
  return new Set(partitions.starts).size + (partitions.hasNull ? 1 : 0);
}

/** What to tell a user whose rows span more partitions than BigQuery allows. */
export function partitionAdvice(partitioning: ColumnPartitioning): string {
  const coarser =
    partitioning.unit === "HOUR"
      ? "DAY"
      : partitioning.unit === "DAY"
        ? "MONTH"
        : partitioning.unit === "MONTH"
          ? "YEAR"
          : undefined;
  return `${coarser ? `set table_config's partition_type to ${coarser} (coarser partitions), or ` : ""}choose another partition_field (a column whose values span fewer ${partitioning.unit.toLowerCase()}s)`;
}
