import type { StreamPlan } from "../connectors/connector.js";
import type { SingerState } from "../protocol/state.js";

/**
 * The streams a run reads: `plans`, plus the LOG_BASED streams of the pipeline that `--select`
 * left out but whose state holds a position (`lsn`). Those read the same replication slot, and a
 * run confirms the slot up to where it stored changes, so a run without them would make the
 * server drop changes they never loaded. With them it only reads their changes (no copy: they
 * have a position), which the server decodes for the slot anyway. Refusing the `--select` was
 * the alternative; it would make `--full-refresh --select <one table>` (re-copy one table)
 * impossible without copying every LOG_BASED table or holding WAL in a second slot.
 * A LOG_BASED stream without a position has nothing to lose: it is copied when it next runs.
 */
export function withSlotSharers(
  plans: StreamPlan[],
  unselectedLogBased: readonly StreamPlan[],
  stored: SingerState | undefined,
): { plans: StreamPlan[]; warning?: string } {
  if (!plans.some((p) => p.replicationMethod === "LOG_BASED")) return { plans };
  const selected = new Set(plans.map((p) => p.schema.streamId));
  const sharers = unselectedLogBased.filter((p) => {
    const lsn = stored?.bookmarks[p.schema.streamId]?.lsn;
    return !selected.has(p.schema.streamId) && lsn !== undefined && lsn !== null;
  });
  if (sharers.length === 0) return { plans };
  const names = sharers.map((p) => p.schema.streamId).join(", ");
  return {
    plans: [...plans, ...sharers],
    warning: `--select: also reading the changes of ${names}: LOG_BASED streams of this pipeline read its replication slot too, and the slot moves past what this run loads (their tables are not copied again). To run LOG_BASED streams apart, give them a pipeline of their own (--state-id), which has its own slot`,
  };
}
