import { createHash } from "node:crypto";
import type { StreamBookmark } from "../../../protocol/state.js";

/**
 * Which replication slot (and managed publication) a pipeline reads. A slot belongs to one
 * pipeline: a run confirms the slot up to what *it* stored, so two pipelines, or a `--select`
 * run, sharing one would confirm changes the other never loaded. The rules, first match wins:
 *
 * 1. `logical_slot_name`: the user's own name, always.
 * 2. The slot the pipeline's state recorded (`replication_slot`): a state keeps the slot its
 *    positions were read from, whatever name rule produced it.
 * 3. A state holding LOG_BASED positions (`lsn`) but no recorded slot was written by
 *    pipelinewise-tap-postgres or by a sluice before slots were per pipeline: it keeps
 *    `pipelinewise_<dbname>[_<tap_id>]`, the slot those positions came from (the migration path).
 * 4. A pipeline with a state id: `sluice_<dbname>_<state id>_<hash>`, its own slot.
 * 5. No state id (`sluice tap` without `--state-id`): pipelinewise's name, as that tap would.
 *
 * Never a new slot for positions read from another one: a new slot means its tables are copied
 * again (the session does so when the slot it is given does not exist).
 */

/** PostgreSQL's longest name (NAMEDATALEN - 1) in bytes; longer slot names are refused. */
export const MAX_NAME_BYTES = 63;

/** The suffix of the publication sluice manages for a slot: `<slot>_pub`. */
const PUBLICATION_SUFFIX = "_pub";

/** The settings of tap-postgres that name change data capture's slot. */
export interface SlotNameSettings {
  dbname: string;
  tap_id?: string;
  logical_slot_name?: string;
}

/** What a pipeline tells about itself that decides its slot (see the rules above). */
export interface SlotOwner {
  stateId?: string;
  /** `replication_slot` of the pipeline's state. */
  recordedSlot?: string;
  bookmarks?: Record<string, StreamBookmark>;
}

export type SlotNameRule = "setting" | "recorded" | "pipelinewise" | "pipeline";

/** The slot a pipeline reads and which rule chose it. */
export function slotNameFor(
  settings: SlotNameSettings,
  owner: SlotOwner = {},
): { name: string; rule: SlotNameRule } {
  if (settings.logical_slot_name) return { name: settings.logical_slot_name, rule: "setting" };
  if (owner.recordedSlot) return { name: owner.recordedSlot, rule: "recorded" };
  if (owner.stateId !== undefined && !holdsLogPositions(owner.bookmarks)) {
    return { name: pipelineSlotName(settings.dbname, owner.stateId), rule: "pipeline" };
  }
  return { name: pipelinewiseSlotName(settings), rule: "pipelinewise" };
}

/** Whether any stream of a state has a LOG_BASED position, i.e. was read from some slot. */
export function holdsLogPositions(bookmarks: Record<string, StreamBookmark> | undefined): boolean {
  return Object.values(bookmarks ?? {}).some((b) => b.lsn !== undefined && b.lsn !== null);
}

/**
 * pipelinewise-tap-postgres's rule, `pipelinewise_<dbname>[_<tap_id>]` lowercased with every
 * other character made `_`, so a project moving from pipelinewise finds the name it knows.
 */
export function pipelinewiseSlotName(settings: SlotNameSettings): string {
  const suffix = settings.tap_id ? `_${settings.tap_id}` : "";
  return withinLimit(sanitize(`pipelinewise_${settings.dbname}${suffix}`), "");
}

/**
 * A pipeline's own slot: `sluice_<dbname>_<state id>_<hash>`. The readable part is the database
 * and state id lowercased, other characters made `_`, cut to fit; the hash (8 hex of SHA-256 of
 * the exact database name and state id) keeps ids apart that read the same once cleaned
 * (`dev:a-to-b` and `dev_a_to_b`) or cut. Slot names are cluster-wide, hence the database in it:
 * two databases of one server each with a pipeline `dev:tap-postgres-to-target-duckdb` differ.
 * At most 59 bytes, so that `<slot>_pub` fits PostgreSQL's 63 too.
 */
export function pipelineSlotName(dbname: string, stateId: string): string {
  const hash = shortHash(`${dbname}\0${stateId}`);
  const room = MAX_NAME_BYTES - PUBLICATION_SUFFIX.length - "sluice_".length - hash.length - 1;
  const readable = sanitize(`${dbname}_${stateId}`).slice(0, room).replace(/_+$/, "");
  return `sluice_${readable}_${hash}`;
}

/** `logical_publication` when set (the user's own), else one sluice manages: `<slot>_pub`. */
export function publicationNameFor(
  settings: { logical_publication?: string | undefined },
  slotName: string,
): { name: string; managed: boolean } {
  if (settings.logical_publication) return { name: settings.logical_publication, managed: false };
  return { name: withinLimit(slotName, PUBLICATION_SUFFIX), managed: true };
}

/** The temporary slot whose snapshot a later copy reads: `<slot>_copy_<pid>`, within 63 bytes. */
export function temporarySlotName(slotName: string, pid: number): string {
  return withinLimit(slotName, `_copy_${pid}`);
}

/** Is `name` a name PostgreSQL takes for a slot? Says why not, or undefined. */
export function slotNameProblem(name: string): string | undefined {
  if (!/^[a-z0-9_]+$/.test(name)) {
    return `"${name}" is not a valid replication slot name: only lowercase letters, digits and _`;
  }
  if (name.length > MAX_NAME_BYTES) {
    return `"${name}" is ${name.length} bytes; PostgreSQL's names are at most ${MAX_NAME_BYTES}`;
  }
  return undefined;
}

/**
 * `base + suffix`, or when that is over 63 bytes, `base` cut with a hash of the whole of it, so
 * two long names never become one. `base` is ASCII here (cleaned, or a valid slot name).
 */
function withinLimit(base: string, suffix: string): string {
  if (Buffer.byteLength(base + suffix) <= MAX_NAME_BYTES) return base + suffix;
  const hash = shortHash(base);
  const keep = MAX_NAME_BYTES - suffix.length - hash.length - 1;
  return `${base.slice(0, keep)}_${hash}${suffix}`;
}

function sanitize(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9_]/g, "_");
}

function shortHash(text: string): string {
  return createHash("sha256").update(text).digest("hex").slice(0, 8);
}
