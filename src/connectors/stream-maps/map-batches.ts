import fs from "node:fs";
import { DataError, PipelineError } from "../../errors.js";
import type { JsonSchema } from "../../protocol/catalog.js";
import { parseExactJson, type JsonValue } from "../../protocol/exact-json.js";
import type { SchemaMessage } from "../../protocol/singer-messages.js";
import { encoderFor, readBatchRows } from "../batch-rows.js";
import { DELETED_AT_COLUMN, SEQUENCE_COLUMN, UNCHANGED_COLUMN, type RecordBatch } from "../batch.js";
import type { Column, StreamSchema } from "../column-type.js";
import type { ChangeEvent, ExtractSession, Extractor, StreamEvent, StreamPlan } from "../connector.js";
import { jsonSchemaOf } from "../singer/json-schema-of.js";
import { columnTypeOfJsonSchema } from "../singer/singer-column-types.js";
import { FieldError, fieldEncoderFor, type FieldEncoder } from "../singer/singer-record-encoder.js";
import { schemaMessage } from "./apply-stream-maps.js";
import { evaluateExpression, MapEvaluationError, toJson } from "./evaluate-expression.js";
import { filterOutcome } from "./filter-outcome.js";
import { propertiesRead } from "./map-expression.js";
import type { CompiledExpression, CompiledMapping, StreamMapPlan } from "./stream-maps-config.js";

/**
 * A built-in mapping applied where a built-in extractor's batches go to a built-in loader, with
 * no Singer messages in between (JSON out, parsed, CSV again cost 5× the time of a plain run).
 * The stream plan is mapped as `applyStreamMaps` maps a SCHEMA (the same checks, before any row
 * moves) and each batch file is rewritten row by row with what `applyStreamMaps` does to a
 * RECORD: the same filter, the same values (expressions see each field as the Singer tap would
 * send it; computed values are written as the Singer target would write them; other fields are
 * copied as they are). In a change batch a row the filter rejects becomes a delete of its key.
 *
 * Only mappings whose streams keep their names run so (`mapsOnBatches`): a copy (`__source__`),
 * an alias, a removed stream or `__else__: __NULL__` at the top need the Singer path, where a
 * stream may become several or none.
 */
export function mapsOnBatches(mapping: CompiledMapping): boolean {
  if (mapping.dropUnlisted) return false;
  for (const [input, plans] of mapping.byInput) {
    if (plans.length !== 1 || plans[0]!.input !== input || plans[0]!.output !== input) return false;
  }
  return true;
}

/** Where each output field comes from. */
type FieldSource =
  | { kind: "copy"; index: number }
  | { kind: "computed"; name: string; compiled: CompiledExpression; reads: string[]; encode: FieldEncoder };

/** One input stream as the mapping makes it. */
interface MappedStream {
  input: StreamPlan;
  output: StreamPlan;
  sources: FieldSource[];
  /** Input column indexes the filter or an expression reads, by property name. */
  read: Map<string, number>;
  streamMap: StreamMapPlan;
}

/** An extractor whose plans and batches are those of `mapping` applied to `extractor`'s. */
export function mapExtractor(extractor: Extractor, mapping: CompiledMapping): Extractor {
  const streams = new Map<string, MappedStream>();
  const inputOf = (plan: StreamPlan): StreamPlan => streams.get(plan.schema.streamId)?.input ?? plan;
  const mapPlan = (input: StreamPlan): StreamPlan => {
    const streamMap = mapping.byInput.get(input.schema.streamId)?.[0];
    if (!streamMap) return input;
    const mapped = mapStream(mapping, streamMap, input);
    streams.set(input.schema.streamId, mapped);
    return mapped.output;
  };
  const mapBatch = (batch: RecordBatch): Promise<RecordBatch> => {
    const stream = streams.get(batch.streamId);
    return stream ? rewriteBatch(mapping, stream, batch) : Promise.resolve(batch);
  };
  return {
    test: (plans) => extractor.test(plans?.map(inputOf)),
    discover: () => extractor.discover(),
    plan: async (catalog) => (await extractor.plan(catalog)).map(mapPlan),
    open: async (options) => {
      // Batches are rewritten as CSV: the extractor is not asked for COPY text.
      const { copyText: _copyText, ...rest } = options;
      const session = await extractor.open({
        ...rest,
        ...(rest.plans ? { plans: rest.plans.map(inputOf) } : {}),
      });
      return mapSession(session, inputOf, mapPlan, mapBatch);
    },
    close: () => extractor.close(),
    ...(extractor.maxParallelStreams !== undefined
      ? { maxParallelStreams: extractor.maxParallelStreams }
      : {}),
  };
}

function mapSession(
  session: ExtractSession,
  inputOf: (plan: StreamPlan) => StreamPlan,
  mapPlan: (input: StreamPlan) => StreamPlan,
  mapBatch: (batch: RecordBatch) => Promise<RecordBatch>,
): ExtractSession {
  const readChanges = session.readChanges?.bind(session);
  return {
    async *read(plan, bookmark, signal): AsyncGenerator<StreamEvent> {
      for await (const event of session.read(inputOf(plan), bookmark, signal)) {
        yield event.type === "batch" ? { ...event, batch: await mapBatch(event.batch) } : event;
      }
    },
    ...(readChanges
      ? {
          async *readChanges(plans, bookmarks, options): AsyncGenerator<ChangeEvent> {
            for await (const event of readChanges(plans.map(inputOf), bookmarks, options)) {
              if (event.type === "batch") yield { type: "batch", batch: await mapBatch(event.batch) };
              else if (event.type === "schema") {
                // A column added at the source: the mapping applies to the stream's new columns.
                const input = inputOf({ schema: event.schema, replicationMethod: "LOG_BASED" });
                yield { type: "schema", schema: mapPlan({ ...input, schema: event.schema }).schema };
              } else yield event;
            }
          },
        }
      : {}),
    ...(session.acknowledge ? { acknowledge: (position: string) => session.acknowledge!(position) } : {}),
    get replicationSlot() {
      return session.replicationSlot;
    },
    close: () => session.close(),
  };
}

function mapStream(mapping: CompiledMapping, streamMap: StreamMapPlan, input: StreamPlan): MappedStream {
  const { columns, keyProperties } = input.schema;
  const properties: Record<string, JsonSchema> = {};
  for (const column of columns) properties[column.name] = jsonSchemaOf(column.type, column.nullable);
  const message: SchemaMessage = {
    type: "SCHEMA",
    stream: input.schema.streamId,
    schema: { type: "object", properties },
    keyProperties,
    ...(input.replicationKey ? { bookmarkProperties: [input.replicationKey] } : {}),
  };
  // The checks of a SCHEMA (a property read that the stream lacks, a key removed) and its typing.
  const mapped = schemaMessage(mapping, streamMap, message, 0).message as SchemaMessage;
  const indexOf = new Map(columns.map((c, i) => [c.name, i]));
  const sources: FieldSource[] = [];
  const outputColumns: Column[] = [];
  for (const [name, schema] of Object.entries(mapped.schema.properties ?? {})) {
    const compiled = streamMap.computed.get(name);
    const { expression } = compiled ?? {};
    const copied =
      compiled === undefined ? name : expression?.kind === "property" ? expression.name : undefined;
    if (copied !== undefined) {
      const index = indexOf.get(copied)!;
      sources.push({ kind: "copy", index });
      outputColumns.push({ ...columns[index]!, name });
      continue;
    }
    const { type, nullable } = columnTypeOfJsonSchema(schema);
    const column: Column = { name, type, nullable };
    outputColumns.push(column);
    sources.push({
      kind: "computed",
      name,
      compiled: compiled!,
      reads: propertiesRead(compiled!.expression),
      encode: fieldEncoderFor(column),
    });
  }
  const read = new Map<string, number>();
  const expressions = [...streamMap.computed.values(), ...(streamMap.filter ? [streamMap.filter] : [])];
  for (const { expression } of expressions) {
    for (const name of propertiesRead(expression)) read.set(name, indexOf.get(name)!);
  }
  const schema: StreamSchema = {
    ...input.schema,
    columns: outputColumns,
    keyProperties: mapped.keyProperties,
  };
  return { input, output: { ...input, schema }, sources, read, streamMap };
}

/** Fields of sluice CSV with `quote`: NULL unquoted and empty, quoted when it must be. */
function csvQuoter(quote: string): (text: string | null) => string {
  const special = new RegExp(`[,\n\r${quote.replace(/[\\\]^-]/g, "\\$&")}]`);
  const doubled = quote + quote;
  return (text) => {
    if (text === null) return "";
    if (text !== "" && !special.test(text)) return text;
    return `${quote}${text.includes(quote) ? text.split(quote).join(doubled) : text}${quote}`;
  };
}

const DELETED_AT_ENCODER = fieldEncoderFor({
  name: DELETED_AT_COLUMN,
  type: { kind: "timestamptz", sqlType: "timestamptz" },
  nullable: true,
});

/** Writes `batch` mapped into a new file beside it (the old one removed) and describes it. */
async function rewriteBatch(
  mapping: CompiledMapping,
  stream: MappedStream,
  batch: RecordBatch,
): Promise<RecordBatch> {
  if (batch.format === "copy-text") {
    throw new PipelineError(`${batch.streamId}: a batch in COPY text cannot be mapped (asked for CSV)`);
  }
  const inputColumns = stream.input.schema.columns;
  const own = inputColumns.length;
  if (inputColumns.some((c, i) => batch.columns[i] !== c.name)) {
    throw new PipelineError(
      `${batch.streamId}: the batch's columns are not the stream's (${batch.columns.join(", ")})`,
    );
  }
  const metadata = batch.columns.slice(own);
  const cdc = metadata.includes(SEQUENCE_COLUMN);
  const deletedIndex = cdc ? own + metadata.indexOf(DELETED_AT_COLUMN) : -1;
  const unchangedIndex = cdc ? own + metadata.indexOf(UNCHANGED_COLUMN) : -1;
  const quote = batch.quote ?? '"';
  const field = csvQuoter(quote);
  const { streamMap, sources } = stream;
  const at = `mapping "${mapping.name}", stream "${batch.streamId}"`;
  const decoders = new Map(
    [...stream.read].map(([name, index]) => [name, { index, encode: encoderFor(inputColumns[index]!.type) }]),
  );
  const extractedAt = DELETED_AT_ENCODER(batch.extractedAt.toISOString());
  const path = `${batch.path}.mapped`;
  const file = await fs.promises.open(path, "w");
  let pending: string[] = [];
  let pendingLength = 0;
  let rowCount = 0;
  let byteCount = 0;
  let maxRowBytes = 0;
  let row = 0;
  try {
    for await (const fields of readBatchRows(batch.path, batch.columns.length, { quote })) {
      row += 1;
      const unchangedText = unchangedIndex >= 0 ? fields[unchangedIndex] : null;
      const left = unchangedText ? new Set(unchangedText.split(",").map(Number)) : undefined;
      const record = new Map<string, JsonValue>();
      for (const [name, { index, encode }] of decoders) {
        // A value the change did not carry is not in the record, as in its Singer RECORD.
        if (left?.has(index)) continue;
        const text = fields[index] ?? null;
        record.set(name, text === null ? null : parseExactJson(encode(text)));
      }
      const scope = { record, config: mapping.streamMapConfig };
      const fail = (property: string, compiled: CompiledExpression, error: unknown): never => {
        if (!(error instanceof MapEvaluationError) && !(error instanceof FieldError)) throw error;
        throw new DataError(
          `${at}: row ${row} of a batch: ${property}: \`${compiled.text}\`: ${error.message}`,
          {
            cause: error,
          },
        );
      };
      const isDelete = deletedIndex >= 0 && fields[deletedIndex] !== null && fields[deletedIndex] !== "";
      const outcome = filterOutcome(streamMap.filter, scope, { isDelete, changes: cdc }, fail);
      if (outcome === "drop") continue;
      const rejected = outcome === "delete";
      const out: string[] = [];
      const unchanged: number[] = [];
      for (let i = 0; i < sources.length; i++) {
        const source = sources[i]!;
        if (source.kind === "copy") {
          if (left?.has(source.index)) unchanged.push(i);
          out.push(field(fields[source.index] ?? null));
          continue;
        }
        // A value computed from values the change did not carry is not carried either.
        if (source.reads.some((name) => !record.has(name))) {
          unchanged.push(i);
          out.push("");
          continue;
        }
        let text = "";
        try {
          const value = toJson(evaluateExpression(source.compiled.expression, scope));
          text = field(value === null ? null : source.encode(value));
        } catch (error) {
          fail(source.name, source.compiled, error);
        }
        out.push(text);
      }
      for (let i = own; i < batch.columns.length; i++) {
        if (i === unchangedIndex) out.push(field(unchanged.length > 0 ? unchanged.join(",") : null));
        else if (i === deletedIndex && rejected) out.push(field(extractedAt));
        else out.push(field(fields[i] ?? null));
      }
      const line = `${out.join(",")}\n`;
      const bytes = Buffer.byteLength(line);
      rowCount += 1;
      byteCount += bytes;
      if (bytes > maxRowBytes) maxRowBytes = bytes;
      pending.push(line);
      pendingLength += line.length;
      if (pendingLength >= 1024 * 1024) {
        await file.write(pending.join(""));
        pending = [];
        pendingLength = 0;
      }
    }
    if (pending.length > 0) await file.write(pending.join(""));
  } catch (error) {
    await file.close().catch(() => undefined);
    await fs.promises.rm(path, { force: true });
    throw error;
  }
  await file.close();
  await fs.promises.rm(batch.path, { force: true });
  const columns = [...stream.output.schema.columns.map((c) => c.name), ...metadata];
  return { ...batch, path, columns, rowCount, byteCount, maxRowBytes };
}
