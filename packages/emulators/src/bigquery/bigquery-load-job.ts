import type { DuckDBConnection } from "@duckdb/node-api";
import { parse as parseCsv } from "csv-parse/sync";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import {
  JsonObject,
  JsonSyntaxError,
  parseExactJson,
  type JsonValue,
} from "sluice/dist/protocol/exact-json.js";
import { checkPartitionLimits, partitionSnapshot } from "./bigquery-partition-limits.js";
import { BigQueryApiError, invalid, notFound, type BigQueryErrorProto } from "./bigquery-api-error.js";
import type { BigQueryCatalog, TableEntry, TimePartitioning } from "./bigquery-catalog.js";
import { schemaOfResource } from "./bigquery-catalog.js";
import {
  decimalBounds,
  duckdbType,
  findField,
  normalizeSchema,
  duckdbSchema,
  quoteIdent,
  type TableFieldSchema,
} from "./bigquery-types.js";
import { RowValueError, canonicalScalar, stagedJsonValue, stagedScalar } from "./bigquery-value-parser.js";

/** `configuration.load` of a job, the parts the emulator reads. */
export interface LoadConfiguration {
  destinationTable?: { projectId?: string; datasetId?: string; tableId?: string };
  sourceFormat?: string;
  schema?: { fields?: unknown };
  createDisposition?: string;
  writeDisposition?: string;
  schemaUpdateOptions?: string[];
  ignoreUnknownValues?: boolean;
  maxBadRecords?: number;
  skipLeadingRows?: number | string;
  fieldDelimiter?: string;
  quote?: string;
  allowJaggedRows?: boolean;
  allowQuotedNewlines?: boolean;
  nullMarker?: string;
  autodetect?: boolean;
  timePartitioning?: TimePartitioning;
  clustering?: { fields: string[] };
  sourceUris?: string[];
}

export interface LoadStatistics {
  inputFiles: string;
  inputFileBytes: string;
  outputRows: string;
  outputBytes: string;
  badRecords: string;
  /** Errors of rows skipped under maxBadRecords; the job still succeeds. */
  warnings: BigQueryErrorProto[];
}

/** Where a row's problem is reported: BigQuery names uploaded data `file-00000000`. */
const UPLOAD_LOCATION = "file-00000000";

/**
 * Runs a load job on an uploaded file, as BigQuery does: every row is checked against the
 * destination schema first (unknown fields, values the type cannot hold, NULL in REQUIRED), and
 * the job fails with BigQuery's messages once more rows are bad than `maxBadRecords` allows. Only
 * then is the table changed, in one DuckDB transaction (schema update, truncate, insert).
 */
export async function runLoadJob(
  catalog: BigQueryCatalog,
  connection: DuckDBConnection,
  config: LoadConfiguration,
  dataFile: string | undefined,
): Promise<LoadStatistics> {
  const destination = config.destinationTable;
  if (!destination?.datasetId || !destination.tableId)
    throw invalid("Load configuration must specify destination table");
  if (dataFile === undefined) {
    if (config.sourceUris?.length) {
      throw new BigQueryApiError(
        501,
        "notImplemented",
        "The emulator cannot read gs:// sources; upload the data instead",
      );
    }
    throw invalid("Load job has no data");
  }
  const projectId = destination.projectId ?? catalog.projectId;
  catalog.checkProject(projectId);
  const { datasetId, tableId } = destination;
  catalog.dataset(datasetId);
  const where = `${projectId}:${datasetId}.${tableId}`;
  // Counted before anything can fail: BigQuery counts failed load jobs too.
  catalog.quotas.chargeLoadJob();
  catalog.quotas.chargeTable(`${datasetId}.${tableId}`, "job-output");
  const format = (config.sourceFormat ?? "CSV").toUpperCase();
  if (!["NEWLINE_DELIMITED_JSON", "CSV", "PARQUET"].includes(format)) {
    throw new BigQueryApiError(501, "notImplemented", `The emulator cannot load ${format} data`);
  }
  const loadSchema =
    config.schema?.fields !== undefined ? schemaOfResource({ schema: config.schema }, where) : undefined;
  const existing = catalog.findTable(datasetId, tableId);
  const createDisposition = config.createDisposition ?? "CREATE_IF_NEEDED";
  const writeDisposition = config.writeDisposition ?? "WRITE_APPEND";
  const options = new Set(config.schemaUpdateOptions ?? []);
  if (
    options.size > 0 &&
    !(writeDisposition === "WRITE_APPEND" || (writeDisposition === "WRITE_TRUNCATE" && existing))
  ) {
    throw invalid(
      "Schema update options should only be specified with WRITE_APPEND disposition, or with WRITE_TRUNCATE disposition on a table partition.",
    );
  }
  if (!existing && createDisposition === "CREATE_NEVER") throw notFound(`Table ${where}`);
  if (!existing && !loadSchema && format !== "PARQUET") {
    throw invalid(
      config.autodetect
        ? "The emulator does not support schema autodetection; pass a schema"
        : "No schema specified on job or table.",
    );
  }
  const schema = loadSchema ?? existing?.schema ?? [];
  const fileBytes = fs.statSync(dataFile).size;

  let staging: { file: string; rows: number; warnings: BigQueryErrorProto[] } | undefined;
  let inflated: string | undefined;
  try {
    if (format !== "PARQUET" && isGzip(dataFile)) {
      // BigQuery knows gzip by its magic bytes (a media upload has no file name to go by); one
      // worker reads a compressed file, hence its cap (bigquery-limits.ts, gzipFileBytes).
      const cap = catalog.quotas.limits.gzipFileBytes;
      if (fileBytes > cap) {
        throw invalid(
          `Input ${format === "CSV" ? "CSV" : "JSON"} files are not splittable and at least one of the files is larger than the maximum allowed size. Size is: ${fileBytes}. Max allowed size is: ${cap}.`,
        );
      }
      inflated = `${dataFile}.inflated`;
      try {
        await pipeline(fs.createReadStream(dataFile), createGunzip(), fs.createWriteStream(inflated));
      } catch (error) {
        throw invalid(
          `Error while reading data, error message: the gzip-compressed file is corrupt: ${(error as Error).message}`,
        );
      }
      dataFile = inflated;
    }
    if (format !== "PARQUET") {
      staging =
        format === "CSV"
          ? await stageCsv(dataFile, schema, config)
          : await stageNdjson(dataFile, schema, config);
    }
    const snapshot = existing ? structuredClone(existing) : undefined;
    await connection.run("BEGIN TRANSACTION");
    try {
      if (!existing) {
        await catalog.createTable(connection, datasetId, {
          tableId,
          schema,
          ...(config.timePartitioning ? { timePartitioning: config.timePartitioning } : {}),
          ...(config.clustering ? { clustering: config.clustering } : {}),
        });
      } else if (writeDisposition === "WRITE_TRUNCATE" && loadSchema && options.size === 0) {
        // WRITE_TRUNCATE with a schema replaces the table's schema, as BigQuery does.
        await catalog.createTable(
          connection,
          datasetId,
          { ...existing, schema: loadSchema },
          { replace: true },
        );
      } else if (loadSchema) {
        await catalog.evolveSchema(connection, datasetId, tableId, loadSchema, {
          addition: options.has("ALLOW_FIELD_ADDITION"),
          relaxation: options.has("ALLOW_FIELD_RELAXATION"),
        });
      }
      const name = `${quoteIdent(duckdbSchema(datasetId))}.${quoteIdent(tableId)}`;
      if (existing && writeDisposition === "WRITE_EMPTY") {
        const count = await connection.runAndReadAll(`SELECT count(*) FROM ${name}`);
        if (Number(count.getRows()[0]?.[0] ?? 0) > 0) {
          throw new BigQueryApiError(409, "duplicate", `Already Exists: Table ${where}`);
        }
      }
      if (existing && writeDisposition === "WRITE_TRUNCATE") await connection.run(`DELETE FROM ${name}`);
      const table = catalog.table(datasetId, tableId);
      const partitions = await partitionSnapshot(catalog, connection, datasetId, tableId);
      const outputRows = staging
        ? await insertStaged(connection, name, schema, staging.file)
        : await insertParquet(connection, name, table, dataFile, config, where);
      await checkPartitionLimits(catalog, connection, datasetId, tableId, partitions);
      await connection.run("COMMIT");
      table.lastModifiedTime = String(catalog.now());
      catalog.quotas.recordJobOutput(`${datasetId}.${tableId}`);
      return {
        inputFiles: "1",
        inputFileBytes: String(fileBytes),
        outputRows: String(outputRows),
        outputBytes: String(fs.statSync(dataFile).size),
        badRecords: String(staging?.warnings.length ?? 0),
        warnings: staging?.warnings ?? [],
      };
    } catch (error) {
      await connection.run("ROLLBACK");
      if (snapshot) catalog.dataset(datasetId).tables.set(tableId, snapshot);
      else catalog.forgetTable(datasetId, tableId);
      throw translateDuckdbLoadError(error);
    }
  } finally {
    if (staging) fs.rmSync(staging.file, { force: true });
    if (inflated) fs.rmSync(inflated, { force: true });
  }
}

/** Whether a file starts with gzip's magic bytes, 1f 8b (RFC 1952). */
function isGzip(file: string): boolean {
  const head = Buffer.alloc(2);
  const fd = fs.openSync(file, "r");
  try {
    return fs.readSync(fd, head, 0, 2, 0) === 2 && head[0] === 0x1f && head[1] === 0x8b;
  } finally {
    fs.closeSync(fd);
  }
}

function translateDuckdbLoadError(error: unknown): unknown {
  if (error instanceof BigQueryApiError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const notNull = /NOT NULL constraint failed: [^.]*\.(\S+)/.exec(message);
  if (notNull) return invalid(`Required field ${notNull[1]} cannot be null`);
  return new BigQueryApiError(400, "invalid", `Error while reading data, error message: ${message}`);
}

/** Collects bad rows and gives up as BigQuery does once there are more than `maxBadRecords`. */
class RowErrors {
  readonly warnings: BigQueryErrorProto[] = [];
  constructor(
    private readonly kind: "JSON" | "CSV",
    private readonly maxBadRecords: number,
  ) {}

  add(message: string, rowsRead: number): void {
    this.warnings.push({
      reason: "invalid",
      location: UPLOAD_LOCATION,
      message: `Error while reading data, error message: ${message}`,
    });
    if (this.warnings.length > this.maxBadRecords) {
      const n = this.warnings.length;
      throw new BigQueryApiError(
        400,
        "invalid",
        `Error while reading data, error message: ${this.kind} table encountered too many errors, giving up. Rows: ${rowsRead}; errors: ${n}. Please look into the errors[] collection for more details.`,
        {
          extraErrors: [
            {
              reason: "invalid",
              message: `Error while reading data, error message: ${this.kind} processing encountered too many errors, giving up. Rows: ${rowsRead}; errors: ${n}; max bad: ${this.maxBadRecords}; error percent: 0`,
            },
            ...this.warnings.slice(0, 100),
          ],
        },
      );
    }
  }
}

function stagingFile(): string {
  return path.join(os.tmpdir(), `bq-emulator-${process.pid}-${Math.random().toString(36).slice(2)}.ndjson`);
}

/** Writes staging lines to a file in large pieces. */
class LineWriter {
  private buffer: string[] = [];
  private size = 0;
  private readonly fd: number;
  constructor(readonly file: string) {
    this.fd = fs.openSync(file, "w");
  }
  write(line: string): void {
    this.buffer.push(line);
    this.size += line.length;
    if (this.size > 8 << 20) this.flush();
  }
  flush(): void {
    if (this.buffer.length > 0) fs.writeSync(this.fd, this.buffer.join("\n") + "\n");
    this.buffer = [];
    this.size = 0;
  }
  close(): void {
    this.flush();
    fs.closeSync(this.fd);
  }
}

/**
 * Splits a file into lines without holding it whole, with each line's byte offset; the lines of
 * each chunk read come together (one await per chunk, not per line).
 */
async function* linesOf(file: string): AsyncGenerator<{ text: string; position: number }[]> {
  let rest: Buffer = Buffer.alloc(0);
  let position = 0;
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    const data: Buffer = rest.length > 0 ? Buffer.concat([rest, chunk]) : chunk;
    const lines: { text: string; position: number }[] = [];
    let start = 0;
    for (let i = data.indexOf(10, start); i !== -1; i = data.indexOf(10, start)) {
      const end = i > start && data[i - 1] === 13 ? i - 1 : i;
      lines.push({ text: data.toString("utf8", start, end), position });
      position += i + 1 - start;
      start = i + 1;
    }
    rest = data.subarray(start);
    if (lines.length > 0) yield lines;
  }
  if (rest.length > 0) yield [{ text: rest.toString("utf8"), position }];
}

async function stageNdjson(
  dataFile: string,
  schema: readonly TableFieldSchema[],
  config: LoadConfiguration,
): Promise<{ file: string; rows: number; warnings: BigQueryErrorProto[] }> {
  const errors = new RowErrors("JSON", Number(config.maxBadRecords ?? 0));
  const writer = new LineWriter(stagingFile());
  const ignoreUnknownValues = config.ignoreUnknownValues === true;
  let rows = 0;
  let read = 0;
  // Column lookup by exact name first, then case-insensitively (BigQuery's matching).
  const byName = new Map<string, number>();
  schema.forEach((field, i) => byName.set(field.name.toLowerCase(), i));
  schema.forEach((field, i) => byName.set(field.name, i));
  const keys = schema.map((field) => JSON.stringify(field.name));
  const values: (JsonValue | undefined)[] = new Array<JsonValue | undefined>(schema.length);
  const topLevel = { ignoreUnknownValues, nested: false };
  try {
    for await (const lines of linesOf(dataFile))
      for (const line of lines) {
        if (line.text.trim() === "") continue;
        read++;
        try {
          let value;
          try {
            value = parseExactJson(line.text);
          } catch (error) {
            if (error instanceof JsonSyntaxError)
              throw new RowValueError(`Parser terminated before end of string`);
            throw error;
          }
          if (!(value instanceof JsonObject)) throw new RowValueError("Row is not a JSON object");
          values.fill(undefined);
          for (const [key, item] of value.members) {
            const index = byName.get(key) ?? byName.get(key.toLowerCase());
            if (index === undefined) {
              if (ignoreUnknownValues) continue;
              throw new RowValueError(`No such field: ${key}.`);
            }
            values[index] = item;
          }
          let out = "{";
          for (let i = 0; i < schema.length; i++) {
            const field = schema[i]!;
            out += `${i === 0 ? "" : ","}${keys[i]!}:${stagedJsonValue(field, values[i], field.name, topLevel)}`;
          }
          writer.write(out + "}");
          rows++;
        } catch (error) {
          if (!(error instanceof RowValueError)) throw error;
          errors.add(
            `JSON parsing error in row starting at position ${line.position}: ${error.message}`,
            read,
          );
        }
      }
  } finally {
    writer.close();
  }
  return { file: writer.file, rows, warnings: errors.warnings };
}

const CSV_TYPE_NAMES: Record<string, string> = {
  INTEGER: "INT64",
  FLOAT: "DOUBLE",
  BOOLEAN: "BOOL",
};

async function stageCsv(
  dataFile: string,
  schema: readonly TableFieldSchema[],
  config: LoadConfiguration,
): Promise<{ file: string; rows: number; warnings: BigQueryErrorProto[] }> {
  const errors = new RowErrors("CSV", Number(config.maxBadRecords ?? 0));
  const nullMarker = config.nullMarker ?? "";
  const records = parseCsv(fs.readFileSync(dataFile), {
    delimiter: config.fieldDelimiter === "\\t" ? "\t" : (config.fieldDelimiter ?? ","),
    quote: config.quote ?? '"',
    from_line: Number(config.skipLeadingRows ?? 0) + 1,
    relax_column_count: true,
    info: true,
    cast: (value, context) => (value === nullMarker && !context.quoting ? null : value),
  }) as unknown as { record: (string | null)[]; info: { bytes: number; lines: number } }[];
  const writer = new LineWriter(stagingFile());
  let rows = 0;
  let previousBytes = 0;
  let read = 0;
  try {
    for (const { record, info } of records) {
      read++;
      const position = previousBytes;
      previousBytes = info.bytes;
      try {
        if (record.length > schema.length && !config.ignoreUnknownValues) {
          throw new RowValueError(
            `Too many values in row starting at position: ${position}. Found ${record.length} column(s) while expected ${schema.length}.`,
          );
        }
        if (record.length < schema.length && !config.allowJaggedRows) {
          throw new RowValueError(
            `CSV table references column position ${schema.length - 1}, but line contains only ${record.length} columns.`,
          );
        }
        const parts = schema.map((field, i) => {
          const raw = record[i] ?? null;
          if (raw === null) {
            if (field.mode === "REQUIRED") {
              throw new RowValueError(
                `Required field ${field.name} cannot be null; line ${info.lines}, field: ${i}`,
              );
            }
            return `${JSON.stringify(field.name)}:null`;
          }
          if (field.mode === "REPEATED" || field.type === "RECORD") {
            throw new RowValueError(
              `CSV cannot hold ${field.mode === "REPEATED" ? "REPEATED" : "RECORD"} field ${field.name}`,
            );
          }
          let text: string;
          try {
            text = canonicalScalar(field, raw, field.name);
          } catch (error) {
            if (!(error instanceof RowValueError)) throw error;
            throw new RowValueError(
              `Could not parse '${raw}' as ${CSV_TYPE_NAMES[field.type] ?? field.type} for field ${field.name} (position ${i}) starting at location ${position}  with message 'Unable to parse'`,
            );
          }
          return `${JSON.stringify(field.name)}:${JSON.stringify(stagedScalar(field, text))}`;
        });
        writer.write(`{${parts.join(",")}}`);
        rows++;
      } catch (error) {
        if (!(error instanceof RowValueError)) throw error;
        errors.add(error.message, read);
      }
    }
  } finally {
    writer.close();
  }
  return { file: writer.file, rows, warnings: errors.warnings };
}

/** The read_json column type and the SELECT expression that turns a staged value into the column. */
function stagedColumn(field: TableFieldSchema, source: string): { readAs: string; expression: string } {
  const target = duckdbType(field);
  if (field.mode === "REPEATED" && field.type !== "RECORD") {
    const element =
      field.type === "BYTES" ? "from_base64(x)" : `CAST(x AS ${duckdbType({ ...field, mode: "NULLABLE" })})`;
    return { readAs: "VARCHAR[]", expression: `list_transform(${source}, x -> ${element})` };
  }
  if (field.mode === "REPEATED" || field.type === "RECORD")
    return { readAs: "JSON", expression: `CAST(${source} AS ${target})` };
  if (field.type === "BYTES") return { readAs: "VARCHAR", expression: `from_base64(${source})` };
  if (field.type === "NUMERIC") {
    // Staged unscaled (see stagedScalar): 12500000000 at scale 9 is 12.5.
    const [, scale] = decimalBounds(field);
    const unscaled = `CAST(CAST(${source} AS HUGEINT) AS DECIMAL(38,0))`;
    const value =
      scale === 0
        ? unscaled
        : `${unscaled} * CAST('0.${"0".repeat(scale - 1)}1' AS DECIMAL(${scale + 1},${scale}))`;
    return { readAs: "VARCHAR", expression: `CAST(${value} AS ${target})` };
  }
  return { readAs: "VARCHAR", expression: `CAST(${source} AS ${target})` };
}

async function insertStaged(
  connection: DuckDBConnection,
  table: string,
  schema: readonly TableFieldSchema[],
  file: string,
): Promise<number> {
  if (schema.length === 0) return 0;
  const columns = schema.map((field) => ({ field, ...stagedColumn(field, quoteIdent(field.name)) }));
  const columnTypes = columns.map((c) => `${quoteIdent(c.field.name)}: '${c.readAs}'`).join(", ");
  const result = await connection.run(
    `INSERT INTO ${table} (${columns.map((c) => quoteIdent(c.field.name)).join(", ")})
     SELECT ${columns.map((c) => c.expression).join(", ")}
     FROM read_json('${file.replaceAll("'", "''")}', format = 'newline_delimited', columns = {${columnTypes}}, maximum_object_size = 104857600)`,
  );
  return result.rowsChanged;
}

async function insertParquet(
  connection: DuckDBConnection,
  name: string,
  table: TableEntry,
  dataFile: string,
  config: LoadConfiguration,
  where: string,
): Promise<number> {
  const source = `read_parquet('${dataFile.replaceAll("'", "''")}')`;
  const described = await connection.runAndReadAll(`SELECT * FROM ${source} LIMIT 0`);
  const present = new Set<string>();
  for (let i = 0; i < described.columnCount; i++) {
    const column = described.columnName(i);
    const field = findField(table.schema, column);
    if (!field) {
      if (config.ignoreUnknownValues) continue;
      throw invalid(
        `Error while reading data, error message: No such field: ${column}. File: ${UPLOAD_LOCATION}`,
        UPLOAD_LOCATION,
      );
    }
    present.add(field.name);
  }
  const fields = table.schema.filter((f) => present.has(f.name));
  if (fields.length === 0) throw invalid(`Parquet file has no column of table ${where}`);
  const result = await connection.run(
    `INSERT INTO ${name} (${fields.map((f) => quoteIdent(f.name)).join(", ")})
     SELECT ${fields.map((f) => `CAST(${quoteIdent(f.name)} AS ${duckdbType(f)})`).join(", ")} FROM ${source}`,
  );
  return result.rowsChanged;
}

/** The schema of a load job's configuration, normalized (for tests and the job resource). */
export function loadSchemaOf(config: LoadConfiguration, where: string): TableFieldSchema[] | undefined {
  return config.schema?.fields !== undefined ? normalizeSchema(config.schema.fields, where) : undefined;
}

/** One row's error in a tabledata.insertAll answer. */
export interface InsertError {
  index: number;
  errors: { reason: string; location: string; debugInfo: string; message: string }[];
}

/**
 * tabledata.insertAll (streaming inserts): each row is checked as a load job checks it. As in
 * BigQuery, a request with a bad row inserts nothing unless `skipInvalidRows`; then the good rows
 * are reported `stopped`.
 */
export async function insertRows(
  catalog: BigQueryCatalog,
  connection: DuckDBConnection,
  datasetId: string,
  tableId: string,
  rows: readonly JsonValue[],
  options: { skipInvalidRows: boolean; ignoreUnknownValues: boolean },
): Promise<InsertError[]> {
  const table = catalog.table(datasetId, tableId);
  const schema = table.schema;
  const staged: string[] = [];
  const errors: InsertError[] = [];
  const good: number[] = [];
  rows.forEach((row, index) => {
    try {
      if (!(row instanceof JsonObject)) throw new RowValueError("Row is not a JSON object");
      const values = new Map<string, JsonValue>();
      for (const [key, value] of row.members) {
        const field = findField(schema, key);
        if (!field) {
          if (options.ignoreUnknownValues) continue;
          throw Object.assign(new RowValueError(`no such field: ${key}.`), { location: key });
        }
        values.set(field.name, value);
      }
      const parts = schema.map(
        (field) =>
          `${JSON.stringify(field.name)}:${stagedJsonValue(field, values.get(field.name), field.name, {
            ignoreUnknownValues: options.ignoreUnknownValues,
            nested: false,
          })}`,
      );
      staged.push(`{${parts.join(",")}}`);
      good.push(index);
    } catch (error) {
      if (!(error instanceof RowValueError)) throw error;
      const location =
        (error as RowValueError & { location?: string }).location ??
        /Field: ([^;.\s]+)/.exec(error.message)?.[1] ??
        "";
      errors.push({
        index,
        errors: [{ reason: "invalid", location, debugInfo: "", message: error.message }],
      });
    }
  });
  if (errors.length > 0 && !options.skipInvalidRows) {
    const stopped = good.map((index) => ({
      index,
      errors: [{ reason: "stopped", location: "", debugInfo: "", message: "" }],
    }));
    return [...errors, ...stopped].sort((a, b) => a.index - b.index);
  }
  if (staged.length > 0) {
    const writer = new LineWriter(stagingFile());
    try {
      for (const line of staged) writer.write(line);
    } finally {
      writer.close();
    }
    try {
      await insertStaged(
        connection,
        `${quoteIdent(duckdbSchema(datasetId))}.${quoteIdent(tableId)}`,
        schema,
        writer.file,
      );
    } catch (error) {
      throw translateDuckdbLoadError(error);
    } finally {
      fs.rmSync(writer.file, { force: true });
    }
    table.lastModifiedTime = String(catalog.now());
  }
  return errors;
}
