import { evaluateExpression, truthy, type EvaluationScope } from "./evaluate-expression.js";
import type { CompiledExpression } from "./stream-maps-config.js";

/**
 * What `__filter__` makes of one row, the one change-data rule of the stream maps, for Singer
 * messages and for batches alike: a row it keeps is kept; one it rejects is dropped, or, in a
 * change stream, sent as a delete of its key, so that a row that stops matching leaves the
 * warehouse rather than staying stale. A delete passes whatever the filter says (its key is all
 * the filter could read). `fail` reports an evaluation error, naming the row.
 */
export function filterOutcome(
  filter: CompiledExpression | undefined,
  scope: EvaluationScope,
  row: { isDelete: boolean; changes: boolean },
  fail: (property: string, compiled: CompiledExpression, error: unknown) => never,
): "keep" | "drop" | "delete" {
  if (!filter || row.isDelete) return "keep";
  let keep: boolean;
  try {
    keep = truthy(evaluateExpression(filter.expression, scope));
  } catch (error) {
    return fail("__filter__", filter, error);
  }
  if (keep) return "keep";
  return row.changes ? "delete" : "drop";
}
