import type { StreamSchema } from "../connectors/column-type.js";
import { splitRange, type KeyRange } from "./key-ranges.js";
import { inexactKinds } from "./row-hash.js";
import type { RangeChecksum, RowDigest, StreamVerifier } from "./stream-verifier.js";

/** What `verify` found for one stream. Keys are given by column, as canonical text. */
export interface StreamVerification {
  stream: string;
  /** The warehouse table, or undefined when it does not exist. */
  table?: string;
  sourceRows: number;
  warehouseRows: number;
  equal: boolean;
  /** In the source, not in the warehouse. */
  missing: Record<string, string>[];
  /** In the warehouse, not in the source. */
  extra: Record<string, string>[];
  /** In both, with different values. */
  changed: Record<string, string>[];
  /** More keys differ than `maxDifferences`: the lists stop there. */
  truncated: boolean;
  /** How many key ranges were checksummed on each side, and how many rows' hashes were read. */
  rangesCompared: number;
  rowsFetched: number;
  /** Columns whose comparison is weaker than their value (see row-hash.ts). */
  inexactColumns: string[];
  /**
   * Values the source holds that no warehouse can (arrays whose subscripts do not start at 1):
   * loaded as their elements and compared so, reported here rather than as changed rows.
   */
  notHeld: string[];
  /** Why the differences could not be named (a stream without a key). */
  note?: string;
  /** Why the stream could not be verified; the other streams still were. */
  error?: string;
}

export interface VerifyOptions {
  /** A range with at most this many rows on either side is compared row by row. Default 1000. */
  maxRangeRows?: number;
  /** How many parts a differing range is cut into. Default 16. */
  parts?: number;
  /** Stop naming keys after this many differences. Default 1000. */
  maxDifferences?: number;
}

/**
 * Compares one stream in the source and the warehouse: row counts and a checksum of the whole
 * table first; where they differ, cuts the key range into parts at keys taken from the side with
 * more rows, checksums the parts on both sides, and goes down into the differing parts only,
 * until a part is small enough to read its keys and row hashes from both sides and name the keys.
 */
export async function verifyStream(
  schema: StreamSchema,
  source: StreamVerifier,
  warehouse: StreamVerifier,
  options: VerifyOptions = {},
): Promise<StreamVerification> {
  const maxRangeRows = options.maxRangeRows ?? 1000;
  const parts = Math.max(2, options.parts ?? 16);
  const maxDifferences = options.maxDifferences ?? 1000;
  const keyNames = schema.keyProperties;
  const result: StreamVerification = {
    stream: schema.streamId,
    sourceRows: 0,
    warehouseRows: 0,
    equal: false,
    missing: [],
    extra: [],
    changed: [],
    truncated: false,
    rangesCompared: 0,
    rowsFetched: 0,
    inexactColumns: inexactKinds(schema.columns, [source.dialect, warehouse.dialect]),
    notHeld: [],
  };
  source.pairWith(warehouse.dialect);
  warehouse.pairWith(source.dialect);
  const [sourceTotal] = await source.checksums(schema, {}, []);
  result.sourceRows = sourceTotal!.rows;
  result.notHeld = await source.notHeld(schema);
  const table = await warehouse.locate(schema);
  if (table === undefined) {
    result.note = "the warehouse has no table for this stream";
    return result;
  }
  result.table = table;
  const [warehouseTotal] = await warehouse.checksums(schema, {}, []);
  result.warehouseRows = warehouseTotal!.rows;
  result.rangesCompared = 1;
  if (same(sourceTotal!, warehouseTotal!)) {
    result.equal = true;
    return result;
  }
  if (keyNames.length === 0) {
    result.note = "the stream has no key: differences are found but cannot be named";
    return result;
  }

  const keyObject = (key: string[]): Record<string, string> =>
    Object.fromEntries(keyNames.map((name, i) => [name, key[i] ?? ""]));
  const differences = (): number => result.missing.length + result.extra.length + result.changed.length;
  const pending: { range: KeyRange; source: RangeChecksum; warehouse: RangeChecksum }[] = [
    { range: {}, source: sourceTotal!, warehouse: warehouseTotal! },
  ];
  while (pending.length > 0) {
    if (differences() >= maxDifferences) {
      result.truncated = true;
      break;
    }
    const item = pending.shift()!;
    const larger = item.source.rows >= item.warehouse.rows ? source : warehouse;
    const largerRows = Math.max(item.source.rows, item.warehouse.rows);
    let boundaries: string[] = [];
    if (largerRows > maxRangeRows) {
      // Keys repeated in the warehouse (an append-only load) repeat bounds: a bound that does
      // not cut the range would visit it again forever.
      boundaries = [...new Set(await larger.boundaries(schema, item.range, Math.ceil(largerRows / parts)))];
      boundaries = boundaries.filter((b) => b !== item.range.from);
    }
    if (boundaries.length === 0) {
      const [sourceRows, warehouseRows] = await Promise.all([
        source.rows(schema, item.range),
        warehouse.rows(schema, item.range),
      ]);
      result.rowsFetched += sourceRows.length + warehouseRows.length;
      compareRows(sourceRows, warehouseRows, (kind, key) => {
        if (differences() < maxDifferences) result[kind].push(keyObject(key));
        else result.truncated = true;
      });
      continue;
    }
    const [sourceParts, warehouseParts] = await Promise.all([
      source.checksums(schema, item.range, boundaries),
      warehouse.checksums(schema, item.range, boundaries),
    ]);
    result.rangesCompared += boundaries.length + 1;
    splitRange(item.range, boundaries).forEach((range, i) => {
      const s = sourceParts[i]!;
      const w = warehouseParts[i]!;
      if (!same(s, w)) pending.push({ range, source: s, warehouse: w });
    });
  }
  for (const list of [result.missing, result.extra, result.changed]) {
    list.sort((a, b) => compareKeys(Object.values(a), Object.values(b)));
  }
  result.equal = differences() === 0 && !result.truncated && result.sourceRows === result.warehouseRows;
  return result;
}

/**
 * `verifyStream` for each stream in turn. A stream that cannot be verified (a query fails: a
 * warehouse column dropped by hand, a type changed) is reported with its error, and the streams
 * after it are still verified.
 */
export async function verifyStreams(
  schemas: readonly StreamSchema[],
  source: StreamVerifier,
  warehouse: StreamVerifier,
  options: VerifyOptions = {},
): Promise<StreamVerification[]> {
  const results: StreamVerification[] = [];
  for (const schema of schemas) {
    try {
      results.push(await verifyStream(schema, source, warehouse, options));
    } catch (error) {
      results.push({
        stream: schema.streamId,
        sourceRows: 0,
        warehouseRows: 0,
        equal: false,
        missing: [],
        extra: [],
        changed: [],
        truncated: false,
        rangesCompared: 0,
        rowsFetched: 0,
        inexactColumns: [],
        notHeld: [],
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }
  return results;
}

function same(a: RangeChecksum, b: RangeChecksum): boolean {
  return a.rows === b.rows && a.checksum === b.checksum;
}

function compareRows(
  source: RowDigest[],
  warehouse: RowDigest[],
  report: (kind: "missing" | "extra" | "changed", key: string[]) => void,
): void {
  const id = (key: string[]): string => JSON.stringify(key);
  const inWarehouse = new Map(warehouse.map((r) => [id(r.key), r]));
  const sorted = (rows: RowDigest[]): RowDigest[] => [...rows].sort((a, b) => compareKeys(a.key, b.key));
  for (const row of sorted(source)) {
    const other = inWarehouse.get(id(row.key));
    if (!other) report("missing", row.key);
    else if (other.hash !== row.hash) report("changed", row.key);
  }
  // A key the warehouse holds twice (an append-only load) is extra the second time.
  const inSource = new Set(source.map((r) => id(r.key)));
  const seen = new Set<string>();
  for (const row of sorted(warehouse)) {
    const k = id(row.key);
    if (!inSource.has(k) || seen.has(k)) report("extra", row.key);
    seen.add(k);
  }
}

function compareKeys(a: string[], b: string[]): number {
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x === y) continue;
    if (/^-?\d+$/.test(x) && /^-?\d+$/.test(y)) return BigInt(x) < BigInt(y) ? -1 : 1;
    return x < y ? -1 : 1;
  }
  return 0;
}
