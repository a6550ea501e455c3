import { invalidQuery } from "./bigquery-api-error.js";
import type { BigQueryCatalog } from "./bigquery-catalog.js";
import type { TranslatedStatement } from "./bigquery-translated-statement.js";
import { findField, type TableFieldSchema } from "./bigquery-types.js";

/**
 * What GoogleSQL refuses to group, partition or compare, which DuckDB would do
 * (https://cloud.google.com/bigquery/docs/reference/standard-sql/data-types, "Data type
 * properties": groupable, comparable): JSON, GEOGRAPHY and ARRAY are neither groupable nor
 * comparable, a STRUCT is as its fields are, and a window's PARTITION BY also refuses FLOAT64
 * ("Partitioning by expressions of type FLOAT64 is not allowed").
 *
 * Checked where a plain column reference stands in `PARTITION BY`, `GROUP BY`, or an equality in
 * a join's or MERGE's `ON`: expressions are left to DuckDB.
 */
export function checkTypeRules(
  catalog: BigQueryCatalog,
  statement: TranslatedStatement,
  script: string,
): void {
  const schemas = [...statement.tables, ...(statement.target ? [statement.target] : [])].flatMap((ref) =>
    ref.datasetId ? (catalog.findTable(ref.datasetId, ref.tableId)?.schema ?? []) : [],
  );
  if (schemas.length === 0) return;
  const column = (text: string): TableFieldSchema | undefined => {
    const m = /^(?:`?[A-Za-z_][A-Za-z0-9_]*`?\.)?`?([A-Za-z_][A-Za-z0-9_]*)`?$/.exec(text.trim());
    return m ? findField(schemas, m[1]!) : undefined;
  };
  const at = (offset: number): string => {
    const before = script.slice(0, offset).split("\n");
    return `[${before.length}:${before[before.length - 1]!.length + 1}]`;
  };
  for (const m of script.matchAll(/\b(PARTITION|GROUP)\s+BY\s+/gi)) {
    // CREATE TABLE ... PARTITION BY names the table's partitioning, not a window's.
    if (m[1]!.toUpperCase() === "PARTITION" && isTablePartitioning(script, m.index)) continue;
    const start = m.index + m[0].length;
    for (const item of listItems(script, start)) {
      const field = column(item.text);
      if (!field) continue;
      const partition = m[1]!.toUpperCase() === "PARTITION";
      const bad = partition ? unpartitionable(field) : ungroupable(field);
      if (bad) {
        throw invalidQuery(
          `${partition ? "Partitioning" : "Grouping"} by expressions of type ${bad} is not allowed at ${at(item.offset)}`,
        );
      }
    }
  }
  for (const on of script.matchAll(
    /\bON\s+([\s\S]*?)(?=\bWHEN\b|\bWHERE\b|\bJOIN\b|\bGROUP\b|\bLEFT\b|\bINNER\b|\bRIGHT\b|\bFULL\b|\)|;|$)/gi,
  )) {
    for (const eq of on[1]!.matchAll(/([`\w.]+)\s*=\s*([`\w.]+)/g)) {
      const left = column(eq[1]!);
      const right = column(eq[2]!);
      if (!left || !right) continue;
      const bad = incomparable(left);
      if (bad) {
        throw invalidQuery(
          `No matching signature for operator = for argument types: ${bad}, ${bad} at ${at(on.index + on[0].indexOf(on[1]!) + eq.index)}`,
        );
      }
    }
  }
}

/** `PARTITION BY` of a CREATE TABLE (after the column list or AS SELECT), not a window's. */
function isTablePartitioning(script: string, offset: number): boolean {
  let depth = 0;
  for (let i = offset - 1; i >= 0; i--) {
    const c = script[i];
    if (c === ")") depth++;
    else if (c === "(") {
      if (depth === 0) return false; // inside parentheses: OVER (PARTITION BY ...)
      depth--;
    }
  }
  // Outside parentheses only a CREATE TABLE's partitioning stands.
  return true;
}

/** The comma-separated items from `start` to the end of the list (a keyword or a closing parenthesis). */
function listItems(script: string, start: number): { text: string; offset: number }[] {
  const items: { text: string; offset: number }[] = [];
  let depth = 0;
  let itemStart = start;
  for (let i = start; i <= script.length; i++) {
    const c = script[i];
    if (c === "(") depth++;
    else if (c === ")" && depth > 0) depth--;
    else if (depth === 0) {
      const rest = script.slice(i);
      const end =
        c === undefined ||
        c === ")" ||
        c === ";" ||
        /^\s(ORDER|ROWS|RANGE|HAVING|QUALIFY|WINDOW|LIMIT|UNION|EXCEPT|INTERSECT|CLUSTER|OPTIONS|AS|SELECT)\b/i.test(
          rest,
        );
      if (end || c === ",") {
        const text = script.slice(itemStart, i);
        items.push({ text, offset: itemStart + (text.length - text.trimStart().length) });
        itemStart = i + 1;
        if (end) break;
      }
    }
  }
  return items;
}

const NAMES: Record<string, string> = {
  FLOAT: "FLOAT64",
  INTEGER: "INT64",
  BOOLEAN: "BOOL",
  RECORD: "STRUCT",
};

function typeName(field: TableFieldSchema): string {
  return field.mode === "REPEATED"
    ? `ARRAY<${NAMES[field.type] ?? field.type}>`
    : (NAMES[field.type] ?? field.type);
}

/** The type name when `field` cannot be grouped (nor compared): JSON, GEOGRAPHY, ARRAY, a STRUCT holding one. */
function ungroupable(field: TableFieldSchema): string | undefined {
  if (field.mode === "REPEATED" || field.type === "JSON" || field.type === "GEOGRAPHY")
    return typeName(field);
  if (field.type === "RECORD") {
    const inner = (field.fields ?? []).find((f) => ungroupable(f) !== undefined);
    return inner ? typeName(field) : undefined;
  }
  return undefined;
}

const incomparable = ungroupable;

/** A window's PARTITION BY refuses what GROUP BY refuses, and FLOAT64 too. */
function unpartitionable(field: TableFieldSchema): string | undefined {
  if (field.mode !== "REPEATED" && field.type === "FLOAT") return "FLOAT64";
  if (field.type === "RECORD" && field.mode !== "REPEATED") {
    return (field.fields ?? []).some((f) => unpartitionable(f) !== undefined) ? "STRUCT" : undefined;
  }
  return ungroupable(field);
}
