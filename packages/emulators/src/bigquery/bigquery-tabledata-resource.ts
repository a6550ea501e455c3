import { JsonArray, JsonObject, parseExactJson, type JsonValue } from "sluice/dist/protocol/exact-json.js";
import { invalid } from "./bigquery-api-error.js";
import type { BigQueryCatalog } from "./bigquery-catalog.js";
import { etag } from "./bigquery-http.js";
import { insertRows } from "./bigquery-load-job.js";
import { restRow, timestampFormatOf } from "./bigquery-rows.js";
import { duckdbSchema, findField, quoteIdent } from "./bigquery-types.js";

/** The REST resource `tabledata`: list (rows in storage order) and insertAll (streaming). */
export class TabledataResource {
  constructor(private readonly catalog: BigQueryCatalog) {}

  async list(datasetId: string, tableId: string, query: URLSearchParams): Promise<Record<string, unknown>> {
    const table = this.catalog.table(datasetId, tableId);
    const timestamps = timestampFormatOf(
      query.get("formatOptions.useInt64Timestamp") ?? undefined,
      query.get("formatOptions.timestampOutputFormat") ?? undefined,
    );
    const selected = query.get("selectedFields");
    const fields = selected
      ? selected.split(",").map((name) => {
          const field = findField(table.schema, name.trim());
          if (!field) throw invalid(`Field ${name} in selected fields not found in schema`);
          return field;
        })
      : table.schema;
    const start = Number(query.get("pageToken") ?? query.get("startIndex") ?? 0);
    const max = Math.min(Number(query.get("maxResults") ?? 100_000), 100_000);
    return this.catalog.exclusive(async (c) => {
      const name = `${quoteIdent(duckdbSchema(datasetId))}.${quoteIdent(tableId)}`;
      const total = Number((await c.runAndReadAll(`SELECT count(*) FROM ${name}`)).getRows()[0]?.[0] ?? 0);
      const columns = fields.length ? fields.map((f) => quoteIdent(f.name)).join(", ") : "1";
      const reader = await c.runAndReadAll(
        `SELECT ${columns} FROM ${name} ORDER BY rowid LIMIT ${max} OFFSET ${start}`,
      );
      const rows = fields.length ? reader.getRows().map((row) => restRow(fields, row, timestamps)) : [];
      return {
        kind: "bigquery#tableDataList",
        etag: etag(table.lastModifiedTime),
        totalRows: String(total),
        ...(rows.length ? { rows } : {}),
        ...(start + max < total ? { pageToken: String(start + max) } : {}),
      };
    });
  }

  async insertAll(datasetId: string, tableId: string, text: string): Promise<Record<string, unknown>> {
    let request: JsonValue;
    try {
      request = parseExactJson(text);
    } catch {
      throw invalid("Invalid JSON payload received.");
    }
    if (!(request instanceof JsonObject)) throw invalid("Invalid JSON payload received.");
    const rows = request.get("rows");
    if (!(rows instanceof JsonArray)) throw invalid("No rows present in the request.");
    const jsonRows = rows.items.map((row) => (row instanceof JsonObject ? (row.get("json") ?? null) : null));
    const insertErrors = await this.catalog.exclusive((c) =>
      insertRows(this.catalog, c, datasetId, tableId, jsonRows, {
        skipInvalidRows: request.get("skipInvalidRows") === true,
        ignoreUnknownValues: request.get("ignoreUnknownValues") === true,
      }),
    );
    return {
      kind: "bigquery#tableDataInsertAllResponse",
      ...(insertErrors.length > 0 ? { insertErrors } : {}),
    };
  }
}
