import { DuckDBTypeId, type DuckDBConnection, type DuckDBType, type DuckDBValue } from "@duckdb/node-api";
import { BigQueryApiError, duplicate, invalid, invalidQuery, notFound } from "./bigquery-api-error.js";
import { checkPartitioning, type BigQueryCatalog, type DatasetEntry } from "./bigquery-catalog.js";
import { bytesBilled } from "./bigquery-billing.js";
import { checkPartitionLimits, partitionSnapshot } from "./bigquery-partition-limits.js";
import { fieldOfDuckdbType } from "./bigquery-rows.js";
import { checkTypeRules } from "./bigquery-type-rules.js";
import {
  translateScript,
  sqlString,
  type TableRef,
  type TranslatedStatement,
} from "./bigquery-sql-translator.js";
import {
  duckdbType,
  findField,
  normalizeSchema,
  duckdbSchema,
  quoteIdent,
  type TableFieldSchema,
} from "./bigquery-types.js";

/** The parts of `configuration.query` (jobs.insert) or a QueryRequest (jobs.query) the emulator reads. */
export interface QueryConfiguration {
  query?: string;
  useLegacySql?: boolean;
  defaultDataset?: { projectId?: string; datasetId?: string };
  queryParameters?: QueryParameter[];
  parameterMode?: string;
  destinationTable?: { projectId?: string; datasetId?: string; tableId?: string };
  writeDisposition?: string;
  createDisposition?: string;
  dryRun?: boolean;
}

export interface QueryParameter {
  name?: string;
  parameterType?: ParameterType;
  parameterValue?: ParameterValue;
}
interface ParameterType {
  type?: string;
  arrayType?: ParameterType;
  structTypes?: { name?: string; type?: ParameterType }[];
}
interface ParameterValue {
  value?: string | number | boolean | null;
  arrayValues?: ParameterValue[];
  structValues?: Record<string, ParameterValue>;
}

export interface QueryOutcome {
  statementType: string;
  /** The result of the last SELECT, if the script ends with one. */
  schema?: TableFieldSchema[];
  rows?: DuckDBValue[][];
  numDmlAffectedRows?: string;
  dmlStats?: { insertedRowCount: string; updatedRowCount: string; deletedRowCount: string };
  ddlOperationPerformed?: string;
  ddlTargetTable?: { projectId: string; datasetId: string; tableId: string };
  /** The job's location: as requested, or that of the first dataset the query names. */
  location?: string;
  /** On-demand bytes (bigquery-billing.ts), summed over the script's statements. */
  bytesProcessed: number;
  bytesBilled: number;
}

const ALLOWED_TYPE_CHANGES: Record<string, string[]> = {
  INTEGER: ["NUMERIC", "BIGNUMERIC", "FLOAT"],
  NUMERIC: ["BIGNUMERIC", "FLOAT"],
  BIGNUMERIC: ["FLOAT"],
};

function parameterSql(
  type: ParameterType | undefined,
  value: ParameterValue | undefined,
  name: string,
): string {
  const t = (type?.type ?? "STRING").toUpperCase();
  if (t === "ARRAY") {
    const elementType = type?.arrayType;
    const items = (value?.arrayValues ?? []).map((v) => parameterSql(elementType, v, name));
    const elementField = normalizeSchema([{ name: "x", type: elementType?.type ?? "STRING" }], name)[0]!;
    return `CAST([${items.join(", ")}] AS ${duckdbType(elementField)}[])`;
  }
  if (t === "STRUCT") {
    throw new BigQueryApiError(
      501,
      "notImplemented",
      `The emulator does not support STRUCT query parameter ${name}`,
    );
  }
  const field = normalizeSchema([{ name: "x", type: t }], name)[0]!;
  const given = value?.value as unknown;
  if (given === undefined || given === null) return `CAST(NULL AS ${duckdbType(field)})`;
  // The REST API carries every value as a string; the client may send numbers and booleans as is.
  const raw = String(given);
  if (field.type === "BYTES") return `from_base64(${sqlString(raw)})`;
  if (field.type === "STRING") return sqlString(raw);
  return `CAST(${sqlString(raw)} AS ${duckdbType(field)})`;
}

/** BigQuery's name of a field's type in messages (INT64, ARRAY<STRING>). */
function typeName(field: TableFieldSchema): string {
  const names: Record<string, string> = {
    INTEGER: "INT64",
    FLOAT: "FLOAT64",
    BOOLEAN: "BOOL",
    RECORD: "STRUCT",
  };
  const base = names[field.type] ?? field.type;
  return field.mode === "REPEATED" ? `ARRAY<${base}>` : base;
}

/**
 * Whether BigQuery lets a value of DuckDB type `type` be written into `target` (its coercion
 * rules: INT64 widens to NUMERIC, BIGNUMERIC and FLOAT64, NUMERIC to BIGNUMERIC and FLOAT64; a
 * string literal becomes a DATE, TIME, DATETIME or TIMESTAMP; NULL goes anywhere).
 * NOTE: BIGNUMERIC and GEOGRAPHY are DuckDB VARCHAR here, so STRING is let into them.
 */
function assignable(target: TableFieldSchema, type: DuckDBType, literal: boolean): boolean {
  if (type.typeId === DuckDBTypeId.SQLNULL) return true;
  const isList = type.typeId === DuckDBTypeId.LIST || type.typeId === DuckDBTypeId.ARRAY;
  if (target.mode === "REPEATED") {
    return isList && assignable({ ...target, mode: "NULLABLE" }, type.valueType, false);
  }
  if (isList) return false;
  const source = fieldOfDuckdbType("value", type, undefined).type;
  switch (target.type) {
    case "INTEGER":
      return source === "INTEGER";
    case "FLOAT":
      return source === "INTEGER" || source === "FLOAT" || source === "NUMERIC";
    case "NUMERIC":
      return source === "INTEGER" || source === "NUMERIC" || (literal && source === "FLOAT");
    case "BIGNUMERIC":
      return (
        source === "INTEGER" || source === "NUMERIC" || source === "STRING" || (literal && source === "FLOAT")
      );
    case "GEOGRAPHY":
      return source === "STRING";
    case "DATE":
    case "TIME":
    case "DATETIME":
    case "TIMESTAMP":
      return source === target.type || (literal && source === "STRING");
    case "RECORD":
      return source === "RECORD";
    default:
      return source === target.type;
  }
}

/** BigQuery refuses a DML statement writing a value of the wrong type; DuckDB would cast it. */
async function checkAssignments(
  catalog: BigQueryCatalog,
  connection: DuckDBConnection,
  statement: TranslatedStatement,
): Promise<void> {
  const target = statement.target;
  const table = target && catalog.findTable(target.datasetId, target.tableId);
  if (!table || !statement.assignments) return;
  for (const check of statement.assignments) {
    const reader = await connection.runAndReadAll(`${check.query} LIMIT 0`);
    for (let i = 0; i < reader.columnCount; i++) {
      const name = check.columns ? check.columns[i] : table.schema[i]?.name;
      const field = name === undefined ? undefined : findField(table.schema, name);
      if (!field) {
        if (check.insert && name === undefined) {
          throw invalidQuery(
            `Inserted row has wrong column count; Has ${reader.columnCount}, expected ${table.schema.length}`,
          );
        }
        throw invalidQuery(
          `Column ${name ?? i + 1} is not present in table ${target.datasetId}.${target.tableId}`,
        );
      }
      const type = reader.columnType(i);
      if (assignable(field, type, check.literal[i] ?? false)) continue;
      const given = typeName(fieldOfDuckdbType("value", type, undefined));
      throw invalidQuery(
        check.insert
          ? `Query column ${i + 1} has type ${given} which cannot be inserted into column ${field.name}, which has type ${typeName(field)}`
          : `Value of type ${given} cannot be assigned to ${field.name}, which has type ${typeName(field)}`,
      );
    }
  }
}

/** Maps a DuckDB error to the error BigQuery gives for the same mistake, where they differ. */
function queryError(error: unknown): BigQueryApiError {
  if (error instanceof BigQueryApiError) return error;
  const message = (error instanceof Error ? error.message : String(error)).replace(/\n[\s\S]*$/, "");
  let m = /Referenced column "?([^"\s]+)"? not found/.exec(message);
  if (m) return invalidQuery(`Unrecognized name: ${m[1]!}`);
  m = /NOT NULL constraint failed: [^.]*\.(\S+)/.exec(message);
  if (m) return invalidQuery(`Required field ${m[1]!} cannot be null`);
  m = /Column with name (\S+) already exists/.exec(message);
  if (m) return invalidQuery(`Column already exists: ${m[1]!}`);
  if (/^Parser Error/.test(message))
    return invalidQuery(`Syntax error: ${message.replace(/^Parser Error: /, "")}`);
  if (/^Conversion Error|^Invalid Input Error|^Out of Range Error/.test(message)) {
    return invalidQuery(message.replace(/^[A-Za-z ]+ Error: /, ""));
  }
  return invalidQuery(message.replace(/^[A-Za-z ]+ Error: /, ""));
}

function cloneDatasets(datasets: Map<string, DatasetEntry>): Map<string, DatasetEntry> {
  return new Map(
    [...datasets].map(([k, d]) => [
      k,
      { ...structuredClone({ ...d, tables: undefined }), tables: new Map(structuredClone([...d.tables])) },
    ]),
  );
}

function restoreDatasets(catalog: BigQueryCatalog, snapshot: Map<string, DatasetEntry>): void {
  catalog.datasets.clear();
  for (const [k, v] of snapshot) catalog.datasets.set(k, v);
}

/**
 * Runs a GoogleSQL query or script on DuckDB. Each statement outside an explicit transaction runs
 * in its own transaction (as BigQuery commits each statement of a script), so a statement that
 * fails (a MERGE matching a target row twice, a bad partitioning column) leaves no trace; within
 * BEGIN TRANSACTION ... COMMIT TRANSACTION a failure rolls the whole transaction back.
 */
const DML_KINDS = new Set(["INSERT", "UPDATE", "DELETE", "MERGE", "TRUNCATE_TABLE"]);
/** What a CDC-enabled table refuses (see runQuery). */
const MUTATING_DML_KINDS = new Set(["UPDATE", "DELETE", "MERGE"]);

export async function runQuery(
  catalog: BigQueryCatalog,
  connection: DuckDBConnection,
  config: QueryConfiguration,
  /** The job's location when the request names one. */
  location: string | undefined,
  options: { dryRun?: boolean } = {},
): Promise<QueryOutcome> {
  if (config.useLegacySql !== false) {
    throw invalid(
      "The emulator runs GoogleSQL only: set useLegacySql: false (the REST API's default is legacy SQL)",
    );
  }
  if (!config.query) throw invalid("Query text is required", "query");
  const named = new Map<string, string>();
  const positional: string[] = [];
  for (const parameter of config.queryParameters ?? []) {
    const sql = parameterSql(parameter.parameterType, parameter.parameterValue, parameter.name ?? "?");
    if (parameter.name) named.set(parameter.name.toLowerCase(), sql);
    else positional.push(sql);
  }
  const defaultDataset = config.defaultDataset?.datasetId;
  const statements = translateScript(config.query, {
    projectId: catalog.projectId,
    ...(defaultDataset !== undefined ? { defaultDataset } : {}),
    namedParameters: named,
    positionalParameters: positional,
  });
  const outcome: QueryOutcome = {
    bytesProcessed: 0,
    bytesBilled: 0,
    statementType: statements.length === 1 ? statements[0]!.kind : "SCRIPT",
    ...(location !== undefined ? { location } : {}),
  };
  let transactionSnapshot: Map<string, DatasetEntry> | undefined;
  const where = (ref: TableRef): string => `${catalog.projectId}:${ref.datasetId}.${ref.tableId}`;
  if (options.dryRun) {
    // A dry run checks everything and changes nothing: the script runs in a transaction that is
    // rolled back, its own BEGIN/COMMIT left out.
    const snapshot = cloneDatasets(catalog.datasets);
    await connection.run("BEGIN TRANSACTION");
    try {
      for (const statement of statements) {
        if (statement.kind.endsWith("_TRANSACTION")) continue;
        await runStatement(catalog, connection, statement, outcome, location, where, config.query);
      }
    } catch (error) {
      throw queryError(error);
    } finally {
      await connection.run("ROLLBACK");
      restoreDatasets(catalog, snapshot);
    }
    delete outcome.rows;
    delete outcome.numDmlAffectedRows;
    delete outcome.dmlStats;
    return outcome;
  }
  // NOTE: BigQuery refuses UPDATE, DELETE and MERGE on a table that receives change data capture
  // ("CDC-enabled tables don't support ... mutating data manipulation language (DML) statements
  // such as DELETE, UPDATE, and MERGE", https://cloud.google.com/bigquery/docs/change-data-capture#limitations).
  for (const statement of statements) {
    if (!MUTATING_DML_KINDS.has(statement.kind) || !statement.target) continue;
    const { datasetId, tableId } = statement.target;
    if (catalog.hooks.isCdcTable?.(datasetId, tableId)) {
      throw invalidQuery(
        `${statement.kind} over table ${catalog.projectId}.${datasetId}.${tableId} is not supported: the table receives change data capture (UPSERT/DELETE) through the Storage Write API, and CDC-enabled tables do not support mutating DML statements`,
      );
    }
  }
  // Change data capture applied first: a DML statement must not write over a newer change.
  if (statements.some((s) => DML_KINDS.has(s.kind))) await catalog.hooks.beforeDml?.(connection);
  try {
    for (const statement of statements) {
      if (statement.kind === "BEGIN_TRANSACTION") {
        if (transactionSnapshot) throw invalidQuery("Transaction is already in progress");
        await connection.run("BEGIN TRANSACTION");
        transactionSnapshot = cloneDatasets(catalog.datasets);
        continue;
      }
      if (statement.kind === "COMMIT_TRANSACTION") {
        if (!transactionSnapshot) throw invalidQuery("COMMIT TRANSACTION without BEGIN TRANSACTION");
        await connection.run("COMMIT");
        transactionSnapshot = undefined;
        continue;
      }
      if (statement.kind === "ROLLBACK_TRANSACTION") {
        if (!transactionSnapshot) throw invalidQuery("ROLLBACK TRANSACTION without BEGIN TRANSACTION");
        await connection.run("ROLLBACK");
        restoreDatasets(catalog, transactionSnapshot);
        transactionSnapshot = undefined;
        continue;
      }
      const own = transactionSnapshot === undefined;
      const snapshot = own ? cloneDatasets(catalog.datasets) : undefined;
      if (own) await connection.run("BEGIN TRANSACTION");
      try {
        await runStatement(catalog, connection, statement, outcome, location, where, config.query);
        if (own) await connection.run("COMMIT");
      } catch (error) {
        if (own) {
          await connection.run("ROLLBACK");
          restoreDatasets(catalog, snapshot!);
        }
        throw error;
      }
    }
    if (transactionSnapshot) {
      throw invalidQuery("Transaction was never committed");
    }
  } catch (error) {
    if (transactionSnapshot) {
      await connection.run("ROLLBACK").catch(() => undefined);
      restoreDatasets(catalog, transactionSnapshot);
    }
    throw queryError(error);
  }
  return outcome;
}

async function runStatement(
  catalog: BigQueryCatalog,
  connection: DuckDBConnection,
  statement: TranslatedStatement,
  outcome: QueryOutcome,
  location: string | undefined,
  where: (ref: TableRef) => string,
  script: string,
): Promise<void> {
  // A job runs in one location: its own, or (not given) the location of the first dataset it names.
  const located = (datasetId: string): boolean => {
    const dataset = catalog.datasets.get(datasetId);
    if (!dataset) return false;
    if (outcome.location === undefined) outcome.location = dataset.location;
    return dataset.location.toLowerCase() === outcome.location.toLowerCase();
  };
  const missing = (ref: TableRef): BigQueryApiError =>
    located(ref.datasetId)
      ? notFound(`Table ${where(ref)} was not found in location ${outcome.location ?? location ?? "US"}`)
      : notFound(
          `Dataset ${catalog.projectId}:${ref.datasetId} was not found in location ${outcome.location ?? location ?? "US"}`,
        );
  for (const ref of statement.tables) {
    if (!located(ref.datasetId) || !catalog.findTable(ref.datasetId, ref.tableId)) throw missing(ref);
  }
  if (statement.target?.datasetId && !located(statement.target.datasetId)) throw missing(statement.target);
  const target = statement.target;
  checkTypeRules(catalog, statement, script);
  const targetName = target?.datasetId ? `${target.datasetId}.${target.tableId}` : undefined;
  if (targetName && !statement.temporary) {
    if (["CREATE_TABLE", "CREATE_TABLE_AS_SELECT", "ALTER_TABLE"].includes(statement.kind)) {
      catalog.quotas.chargeTable(targetName, "metadata");
    } else if (["INSERT", "UPDATE", "DELETE", "MERGE", "TRUNCATE_TABLE"].includes(statement.kind)) {
      catalog.quotas.chargeTable(targetName, "dml");
    }
  }
  if (["SELECT", "CREATE_TABLE_AS_SELECT", "INSERT", "UPDATE", "DELETE", "MERGE"].includes(statement.kind)) {
    const bytes = await bytesBilled(
      catalog,
      connection,
      statement,
      script,
      catalog.quotas.limits.minimumBytesBilledPerTable,
    );
    outcome.bytesProcessed += bytes.processed;
    outcome.bytesBilled += bytes.billed;
  }
  const ddlTarget = (ref: TableRef): void => {
    outcome.ddlTargetTable = { projectId: catalog.projectId, ...ref };
  };
  switch (statement.kind) {
    case "SELECT": {
      const reader = await connection.runAndReadAll(statement.sql);
      const hints = statement.tables.flatMap(
        (ref) => catalog.findTable(ref.datasetId, ref.tableId)?.schema ?? [],
      );
      outcome.schema = [];
      for (let i = 0; i < reader.columnCount; i++) {
        let name = reader.columnName(i);
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) name = `f${i}_`;
        const computed = statement.computedColumns?.includes(name.toLowerCase()) ?? false;
        outcome.schema.push(
          fieldOfDuckdbType(name, reader.columnType(i), computed ? undefined : findField(hints, name)),
        );
      }
      outcome.rows = reader.getRows();
      return;
    }
    case "CREATE_SCHEMA": {
      const name = statement.schemaName!;
      if (catalog.datasets.has(name)) {
        if (statement.ifNotExists) return;
        throw duplicate(`Dataset ${catalog.projectId}:${name}`);
      }
      await catalog.createDataset(connection, { datasetId: name, location: outcome.location ?? "US" });
      outcome.ddlOperationPerformed = "CREATE";
      return;
    }
    case "DROP_SCHEMA": {
      const name = statement.schemaName!;
      if (!catalog.datasets.has(name)) {
        if (statement.ifExists) return;
        throw notFound(`Dataset ${catalog.projectId}:${name}`);
      }
      await catalog.deleteDataset(connection, name, statement.dropCascade === true);
      outcome.ddlOperationPerformed = "DROP";
      return;
    }
    case "CREATE_TABLE":
    case "CREATE_TABLE_AS_SELECT": {
      const ref = target!;
      if (statement.temporary) {
        await connection.run(statement.sql);
        return;
      }
      if (!catalog.datasets.has(ref.datasetId)) throw missing(ref);
      const existing = catalog.findTable(ref.datasetId, ref.tableId);
      if (existing && !statement.orReplace) {
        if (statement.ifNotExists) {
          outcome.ddlOperationPerformed = "SKIP";
          return;
        }
        throw duplicate(`Table ${where(ref)}`);
      }
      const hints = [
        ...statement.declaredColumns,
        ...statement.tables.flatMap((t) => catalog.findTable(t.datasetId, t.tableId)?.schema ?? []),
      ];
      for (const sql of statement.sql
        .split("; INSERT INTO ")
        .map((s, i) => (i === 0 ? s : `INSERT INTO ${s}`))) {
        await connection.run(sql);
      }
      if (existing) catalog.forgetTable(ref.datasetId, ref.tableId);
      await catalog.refreshTable(connection, ref.datasetId, ref.tableId, hints);
      const table = catalog.table(ref.datasetId, ref.tableId);
      // Columns DuckDB named after their expression get BigQuery's names (f0_, f1_, ...).
      for (const [i, field] of table.schema.entries()) {
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(field.name)) {
          await connection.run(
            `ALTER TABLE ${quoteIdent(duckdbSchema(ref.datasetId))}.${quoteIdent(ref.tableId)} RENAME COLUMN ${quoteIdent(field.name)} TO ${quoteIdent(`f${i}_`)}`,
          );
          field.name = `f${i}_`;
        }
      }
      normalizeSchema(table.schema, where(ref));
      const partitioning = statement.partitioning;
      const clustering = statement.clustering ? { fields: statement.clustering } : undefined;
      checkPartitioning(table.schema, partitioning, clustering);
      if (partitioning) table.timePartitioning = partitioning;
      if (clustering) table.clustering = clustering;
      await catalog.persist(connection);
      outcome.ddlOperationPerformed = existing ? "REPLACE" : "CREATE";
      ddlTarget(ref);
      return;
    }
    case "DROP_TABLE": {
      const ref = target!;
      if (!ref.datasetId) {
        await connection.run(statement.sql);
        return;
      }
      if (!catalog.findTable(ref.datasetId, ref.tableId)) {
        if (statement.ifExists && catalog.datasets.has(ref.datasetId)) {
          outcome.ddlOperationPerformed = "SKIP";
          return;
        }
        throw missing(ref);
      }
      await catalog.dropTable(connection, ref.datasetId, ref.tableId);
      outcome.ddlOperationPerformed = "DROP";
      ddlTarget(ref);
      return;
    }
    case "ALTER_TABLE": {
      const ref = target!;
      const table = catalog.table(ref.datasetId, ref.tableId);
      const change = statement.alterColumnType;
      if (change) {
        const old = findField(table.schema, change.column);
        if (!old) throw invalidQuery(`Column ${change.column} not found in table ${where(ref)}`);
        const sameNumeric =
          old.type === change.field.type && (old.type === "NUMERIC" || old.type === "BIGNUMERIC");
        const widening = ALLOWED_TYPE_CHANGES[old.type]?.includes(change.field.type) ?? false;
        const sameType = old.type === change.field.type && !sameNumeric;
        if (old.mode === "REPEATED" || !(widening || sameType || sameNumeric)) {
          throw invalidQuery(
            `ALTER TABLE ALTER COLUMN SET DATA TYPE requires that the existing column type (${old.type}) is assignable to the new type (${change.field.type})`,
          );
        }
        if (sameNumeric) {
          // NUMERIC(P,S) may only grow: neither fewer integer digits nor a smaller scale.
          const bounds = (f: TableFieldSchema): [number, number] =>
            f.precision === undefined
              ? f.type === "NUMERIC"
                ? [29, 9]
                : [38, 38]
              : [Number(f.precision) - Number(f.scale ?? 0), Number(f.scale ?? 0)];
          const [oi, os] = bounds(old);
          const [ni, ns] = bounds(change.field);
          if (ni < oi || ns < os) {
            throw invalidQuery(
              `ALTER TABLE ALTER COLUMN SET DATA TYPE requires that the existing column type (${old.type}(${oi + os},${os})) is assignable to the new type (${change.field.type}(${ni + ns},${ns}))`,
            );
          }
        }
        change.field.mode = old.mode ?? "NULLABLE";
        if (change.field.type === "BIGNUMERIC" && old.type !== "BIGNUMERIC") {
          // BIGNUMERIC is stored as canonical text; DuckDB's DECIMAL→VARCHAR keeps trailing zeros.
          statement.sql = statement.sql.replace(
            /SET DATA TYPE VARCHAR$/,
            () =>
              `SET DATA TYPE VARCHAR USING regexp_replace(regexp_replace(CAST(${quoteIdent(old.name)} AS VARCHAR), '(\\.\\d*?)0+$', '\\1'), '\\.$', '')`,
          );
        }
      }
      for (const field of statement.declaredColumns) {
        if (findField(table.schema, field.name) && !/ADD COLUMN IF NOT EXISTS/.test(statement.sql)) {
          throw invalidQuery(`Column already exists: ${field.name}`);
        }
      }
      for (const sql of statement.sql.split("; ")) await connection.run(sql);
      if (statement.renameTo) {
        const dataset = catalog.dataset(ref.datasetId);
        if (dataset.tables.has(statement.renameTo))
          throw duplicate(`Table ${catalog.projectId}:${ref.datasetId}.${statement.renameTo}`);
        dataset.tables.delete(ref.tableId);
        dataset.tables.set(statement.renameTo, { ...table, tableId: statement.renameTo });
        await catalog.refreshTable(connection, ref.datasetId, statement.renameTo, []);
      } else {
        const hints = [
          ...statement.declaredColumns,
          ...(change ? [change.field] : []),
          ...table.schema.filter((f) => !change || f.name.toLowerCase() !== change.column.toLowerCase()),
        ];
        await catalog.refreshTable(connection, ref.datasetId, ref.tableId, hints);
        const updated = catalog.table(ref.datasetId, ref.tableId);
        for (const field of statement.declaredColumns) {
          const added = findField(updated.schema, field.name);
          if (added && field.mode === "REPEATED") added.mode = "REPEATED";
        }
        checkPartitioning(updated.schema, updated.timePartitioning, updated.clustering);
      }
      outcome.ddlOperationPerformed = "ALTER";
      ddlTarget(ref);
      return;
    }
    case "MERGE": {
      await checkAssignments(catalog, connection, statement);
      const partitions =
        target && (await partitionSnapshot(catalog, connection, target.datasetId, target.tableId));
      if (statement.mergeDuplicateCheck) {
        const check = await connection.runAndReadAll(statement.mergeDuplicateCheck);
        if (check.currentRowCount > 0) {
          throw invalidQuery("UPDATE/MERGE must match at most one source row for each target row");
        }
      }
      const result = await connection.run(statement.sql);
      if (target)
        await checkPartitionLimits(catalog, connection, target.datasetId, target.tableId, partitions);
      outcome.numDmlAffectedRows = String(result.rowsChanged);
      return;
    }
    case "INSERT":
    case "UPDATE":
    case "DELETE":
    case "TRUNCATE_TABLE": {
      await checkAssignments(catalog, connection, statement);
      const partitions =
        target?.datasetId && (await partitionSnapshot(catalog, connection, target.datasetId, target.tableId));
      if (statement.mergeDuplicateCheck) {
        const check = await connection.runAndReadAll(statement.mergeDuplicateCheck);
        if (check.currentRowCount > 0) {
          throw invalidQuery("UPDATE/MERGE must match at most one source row for each target row");
        }
      }
      const result = await connection.run(statement.sql);
      if (target?.datasetId && partitions)
        await checkPartitionLimits(catalog, connection, target.datasetId, target.tableId, partitions);
      outcome.numDmlAffectedRows = String(result.rowsChanged);
      const n = String(result.rowsChanged);
      outcome.dmlStats = {
        insertedRowCount: statement.kind === "INSERT" ? n : "0",
        updatedRowCount: statement.kind === "UPDATE" ? n : "0",
        deletedRowCount: statement.kind === "DELETE" || statement.kind === "TRUNCATE_TABLE" ? n : "0",
      };
      const table = target && catalog.findTable(target.datasetId, target.tableId);
      if (table) table.lastModifiedTime = String(catalog.now());
      return;
    }
    default:
      throw invalidQuery(`Unsupported statement ${statement.kind}`);
  }
}
