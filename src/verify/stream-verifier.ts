import { PipelineError } from "../errors.js";
import type { StreamSchema } from "../connectors/column-type.js";
import {
  bucketExpression,
  keyOrderExpression,
  keyOrderOf,
  rangeCondition,
  type KeyRange,
} from "./key-ranges.js";
import {
  asText,
  canonicalExpression,
  hashBitsExpression,
  notHeldExpressions,
  rowHashExpression,
  type VerifyDialect,
} from "./row-hash.js";

/** Rows of one key range: how many, and the XOR of their hash bits (a decimal string). */
export interface RangeChecksum {
  rows: number;
  checksum: string;
}

/** One row as `verify` compares it: its key columns' canonical texts and its row hash. */
export interface RowDigest {
  key: string[];
  hash: string;
}

/**
 * One side of `sluice verify` (the source, or a warehouse): answers about a stream's table with
 * queries the engine computes, so no more rows than one small range ever travel. Rows a
 * warehouse marks deleted (`_sdc_deleted_at` set) count as absent.
 */
export interface StreamVerifier {
  readonly dialect: VerifyDialect;
  /**
   * The engine of the other side: where a kind cannot be compared exactly between the two,
   * both sides hash the same weaker form (see row-hash.ts). Default: this side's own engine.
   */
  pairWith(peer: VerifyDialect): void;
  /** Where the stream's table is, for messages; undefined when it does not exist. */
  locate(schema: StreamSchema): Promise<string | undefined>;
  /** Checksums of the buckets `boundaries` cut `range` into (boundaries.length + 1 of them). */
  checksums(schema: StreamSchema, range: KeyRange, boundaries: readonly string[]): Promise<RangeChecksum[]>;
  /** Every `step`-th key of `range` in key order (not the first): where to cut it. */
  boundaries(schema: StreamSchema, range: KeyRange, step: number): Promise<string[]>;
  /**
   * Facts about values this side holds that no warehouse can hold, one text per column (see
   * `notHeldExpressions`); called for the source. Empty when there are none.
   */
  notHeld(schema: StreamSchema): Promise<string[]>;
  /** The keys and row hashes of `range`; called only for small ranges. */
  rows(schema: StreamSchema, range: KeyRange): Promise<RowDigest[]>;
  close(): Promise<void>;
}

export interface SqlVerifierOptions {
  dialect: VerifyDialect;
  quote: (name: string) => string;
  /** Runs a query; every selected value is read as text (the SQL casts it). */
  query: (sql: string) => Promise<Record<string, unknown>[]>;
  /** The quoted table of a stream and whether it has `_sdc_deleted_at`, or undefined if absent. */
  table: (
    schema: StreamSchema,
  ) => Promise<{ name: string; quoted: string; softDeletes: boolean } | undefined>;
  close: () => Promise<void>;
}

/** A StreamVerifier for any engine that speaks one of the dialects of `row-hash.ts`. */
export class SqlStreamVerifier implements StreamVerifier {
  private peer: VerifyDialect;

  constructor(private readonly options: SqlVerifierOptions) {
    this.peer = options.dialect;
  }

  get dialect(): VerifyDialect {
    return this.options.dialect;
  }

  pairWith(peer: VerifyDialect): void {
    this.peer = peer;
  }

  async locate(schema: StreamSchema): Promise<string | undefined> {
    return (await this.options.table(schema))?.name;
  }

  async checksums(
    schema: StreamSchema,
    range: KeyRange,
    boundaries: readonly string[],
  ): Promise<RangeChecksum[]> {
    const { dialect } = this.options;
    const { from, where, key } = await this.parts(schema, range);
    const bits = hashBitsExpression(
      dialect,
      rowHashExpression(dialect, schema.columns, this.options.quote, this.peer),
    );
    const bucket =
      schema.keyProperties.length > 0 ? bucketExpression(key, keyOrderOf(schema), boundaries, dialect) : "0";
    const rows = await this.options.query(
      `SELECT ${asText(dialect, "b")} AS b, ${asText(dialect, "count(*)")} AS n, ${asText(dialect, "coalesce(bit_xor(h), 0)")} AS x ` +
        `FROM (SELECT ${bucket} AS b, ${bits} AS h FROM ${from}${where}) AS t GROUP BY b`,
    );
    const result: RangeChecksum[] = Array.from({ length: boundaries.length + 1 }, () => ({
      rows: 0,
      checksum: "0",
    }));
    for (const row of rows) {
      result[Number(row.b)] = { rows: Number(row.n), checksum: String(row.x) };
    }
    return result;
  }

  async boundaries(schema: StreamSchema, range: KeyRange, step: number): Promise<string[]> {
    const { dialect } = this.options;
    const { from, where, key } = await this.parts(schema, range);
    const rows = await this.options.query(
      `SELECT ${asText(dialect, "k")} AS k, rn FROM (SELECT k, row_number() OVER (ORDER BY k) AS rn ` +
        `FROM (SELECT ${key} AS k FROM ${from}${where}) AS s) AS t ` +
        `WHERE rn > 1 AND mod(rn - 1, ${Math.max(1, Math.floor(step))}) = 0 ORDER BY rn`,
    );
    return rows.map((r) => String(r.k));
  }

  async notHeld(schema: StreamSchema): Promise<string[]> {
    const { dialect, quote } = this.options;
    const checks = notHeldExpressions(dialect, schema.columns, quote);
    if (checks.length === 0) return [];
    const { from, where } = await this.parts(schema, {});
    const [row] = await this.options.query(
      `SELECT ${checks.map((c, i) => `${asText(dialect, c.count)} AS n${i}`).join(", ")} FROM ${from}${where}`,
    );
    return checks.flatMap((c, i) => {
      const n = Number(row?.[`n${i}`] ?? 0);
      return n > 0 ? [c.describe(n)] : [];
    });
  }

  async rows(schema: StreamSchema, range: KeyRange): Promise<RowDigest[]> {
    const { dialect, quote } = this.options;
    const { from, where } = await this.parts(schema, range);
    const keys = schema.keyProperties.map((name, i) => {
      const column = schema.columns.find((c) => c.name === name);
      const expression = column
        ? canonicalExpression(dialect, quote(name), column.type, this.peer)
        : quote(name);
      return `${expression} AS k${i}`;
    });
    const rows = await this.options.query(
      `SELECT ${[...keys, `${rowHashExpression(dialect, schema.columns, quote, this.peer)} AS h`].join(", ")} FROM ${from}${where}`,
    );
    return rows.map((r) => ({
      key: schema.keyProperties.map((_, i) => String(r[`k${i}`])),
      hash: String(r.h),
    }));
  }

  close(): Promise<void> {
    return this.options.close();
  }

  private async parts(
    schema: StreamSchema,
    range: KeyRange,
  ): Promise<{ from: string; where: string; key: string }> {
    const { dialect, quote } = this.options;
    const table = await this.options.table(schema);
    if (!table) throw new PipelineError(`${schema.streamId}: the table to verify does not exist`);
    const key = schema.keyProperties.length > 0 ? keyOrderExpression(dialect, schema, quote) : "0";
    const conditions = [
      ...(table.softDeletes ? [`${quote("_sdc_deleted_at")} IS NULL`] : []),
      ...(schema.keyProperties.length > 0 ? rangeCondition(key, keyOrderOf(schema), range, dialect) : []),
    ];
    return {
      from: table.quoted,
      where: conditions.length > 0 ? ` WHERE ${conditions.join(" AND ")}` : "",
      key,
    };
  }
}
