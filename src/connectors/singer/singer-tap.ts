import fs from "node:fs";
import type { Catalog, JsonSchema } from "../../protocol/catalog.js";
import {
  formatActivateVersionMessage,
  formatRecordMessage,
  formatSchemaMessage,
  formatStateMessage,
} from "../../protocol/singer-messages.js";
import type { SingerWriter } from "../../protocol/singer-writer.js";
import { advanceLogPosition, emptyState, recordedSlotOf, type SingerState } from "../../protocol/state.js";
import { batchRowsAsJson } from "../batch-rows.js";
import { PipelineError } from "../../errors.js";
import { DELETED_AT_COLUMN } from "../batch.js";
import type { ColumnType, StreamSchema } from "../column-type.js";
import type { ExtractSession, Extractor, StreamPlan } from "../connector.js";
import { jsonSchemaOf } from "./json-schema-of.js";

export interface SingerTapOptions {
  extractor: Extractor;
  /** The catalog with `selected` metadata, as given by `--catalog` or `--properties`. */
  catalog: Catalog;
  state: SingerState | undefined;
  writer: SingerWriter;
  spoolDir: string;
  signal?: AbortSignal;
  /**
   * The pipeline's state id: LOG_BASED names the replication slot of a state without one after it
   * (`sluice run`, `sluice tap --state-id`). Absent: the slot the state recorded
   * (`replication_slot`), else pipelinewise's name, as pipelinewise-tap-postgres reads.
   */
  stateId?: string;
  /** LOG_BASED streams left out of the catalog's selection, read for their changes too (`withSlotSharers`). */
  sharers?: StreamPlan[];
}

/**
 * Runs a built-in extractor as a Singer tap: for each selected stream, SCHEMA (the catalog's
 * schema of the selected columns, `key_properties`, `bookmark_properties`), then for FULL_TABLE an
 * ACTIVATE_VERSION, the RECORDs of each batch (values exact: decoded from the batch file's text
 * by `batchRowsAsJson`, never through a double), a STATE after each batch that carries a
 * bookmark, and at the stream's end the closing ACTIVATE_VERSION (FULL_TABLE) and a STATE. The
 * state is the `--state` given, with each stream's bookmark replaced as it moves.
 */
export async function runSingerTap(options: SingerTapOptions): Promise<void> {
  const { extractor, writer } = options;
  const plans = [...(await extractor.plan(options.catalog)), ...(options.sharers ?? [])];
  const state: SingerState = structuredClone(options.state ?? emptyState());
  fs.mkdirSync(options.spoolDir, { recursive: true });
  const recordedSlot = recordedSlotOf(state);
  const session = await extractor.open({
    spoolDir: options.spoolDir,
    plans,
    bookmarks: state.bookmarks,
    pipeline: {
      ...(options.stateId !== undefined ? { stateId: options.stateId } : {}),
      ...(recordedSlot !== undefined ? { recordedSlot } : {}),
    },
  });
  // In every STATE from here on: the next run, given one back, reads the same slot.
  if (session.replicationSlot !== undefined) state.replication_slot = session.replicationSlot;
  const signal = options.signal ?? new AbortController().signal;
  try {
    for (const plan of plans) {
      const streamId = plan.schema.streamId;
      const types = new Map<string, ColumnType>(plan.schema.columns.map((c) => [c.name, c.type]));
      let version: number | undefined;
      let replace = false;
      for await (const event of session.read(plan, state.bookmarks[streamId], signal)) {
        switch (event.type) {
          case "begin":
            version = event.version;
            replace = event.mode === "replace";
            await writer.line(
              formatSchemaMessage({
                stream: streamId,
                schema: streamSchema(options.catalog, plan),
                keyProperties: plan.schema.keyProperties,
                ...(plan.replicationKey ? { bookmarkProperties: [plan.replicationKey] } : {}),
              }),
            );
            if (replace) await writer.line(formatActivateVersionMessage(streamId, version));
            break;
          case "batch": {
            const timeExtracted = event.batch.extractedAt.toISOString();
            try {
              for await (const recordJson of batchRowsAsJson(event.batch, types)) {
                await writer.line(
                  formatRecordMessage({
                    stream: streamId,
                    recordJson,
                    ...(version !== undefined ? { version } : {}),
                    timeExtracted,
                  }),
                );
              }
            } finally {
              await fs.promises.rm(event.batch.path, { force: true });
            }
            if (event.bookmark) {
              state.bookmarks[streamId] = event.bookmark;
              await writer.line(formatStateMessage(state));
              await writer.flush();
            }
            break;
          }
          case "warning":
            // Singer's stdout carries only messages: warnings go where a tap logs.
            process.stderr.write(`warning: ${event.message}\n`);
            break;
          case "end":
            if (replace && version !== undefined) {
              await writer.line(formatActivateVersionMessage(streamId, version));
            }
            state.bookmarks[streamId] = event.bookmark;
            await writer.line(formatStateMessage(state));
            await writer.flush();
            break;
        }
      }
    }
    const logical = plans.filter((p) => p.replicationMethod === "LOG_BASED");
    if (logical.length > 0) await emitChanges(options, session, logical, state, signal);
    await writer.flush();
  } finally {
    await session.close().catch(() => undefined);
    await extractor.close().catch(() => undefined);
    fs.rmSync(options.spoolDir, { recursive: true, force: true });
  }
}

/**
 * LOG_BASED as a Singer tap: SCHEMA with `_sdc_deleted_at`, then a RECORD per change (a delete
 * carries `_sdc_deleted_at`; values the WAL left out, unchanged TOAST, are left out of the
 * record), a STATE with the position after each checkpoint, and for a TRUNCATE a new table
 * version with its ACTIVATE_VERSION, which tells a target to drop the rows of older versions.
 * The slot is acknowledged when the next run starts from the state the target emitted back:
 * a tap cannot know when the target committed.
 */
async function emitChanges(
  options: SingerTapOptions,
  session: ExtractSession,
  plans: StreamPlan[],
  state: SingerState,
  signal: AbortSignal,
): Promise<void> {
  const { writer } = options;
  if (!session.readChanges) throw new PipelineError("this extractor cannot read changes (LOG_BASED)");
  const schemaMessage = async (plan: StreamPlan, schema: StreamSchema): Promise<void> => {
    const base = streamSchema(options.catalog, { ...plan, schema });
    await writer.line(
      formatSchemaMessage({
        stream: schema.streamId,
        schema: {
          ...base,
          properties: {
            ...base.properties,
            [DELETED_AT_COLUMN]: {
              type: ["null", "string"],
              format: "date-time",
              "x-sql-datatype": "timestamp with time zone",
            },
          },
        },
        keyProperties: schema.keyProperties,
      }),
    );
  };
  const byId = new Map(plans.map((p) => [p.schema.streamId, p]));
  const types = new Map(
    plans.map((p) => [p.schema.streamId, new Map(p.schema.columns.map((c) => [c.name, c.type]))]),
  );
  const versions = new Map(
    plans.map((p) => [p.schema.streamId, state.bookmarks[p.schema.streamId]?.version]),
  );
  for (const plan of plans) await schemaMessage(plan, plan.schema);
  const bookmarks = Object.fromEntries(
    plans.map((p) => [p.schema.streamId, state.bookmarks[p.schema.streamId] ?? {}]),
  );
  /** Streams whose changes stopped (a `recopy`): their position stays out of every STATE. */
  const recopy = new Set<string>();
  for await (const event of session.readChanges(plans, bookmarks, { follow: false, signal })) {
    switch (event.type) {
      case "batch": {
        const { batch } = event;
        const version = versions.get(batch.streamId);
        const timeExtracted = batch.extractedAt.toISOString();
        try {
          for await (const recordJson of batchRowsAsJson(batch, types.get(batch.streamId)!)) {
            await writer.line(
              formatRecordMessage({
                stream: batch.streamId,
                recordJson,
                ...(version !== undefined ? { version } : {}),
                timeExtracted,
              }),
            );
          }
        } finally {
          await fs.promises.rm(batch.path, { force: true });
        }
        break;
      }
      case "schema":
        types.set(event.schema.streamId, new Map(event.schema.columns.map((c) => [c.name, c.type])));
        await schemaMessage(byId.get(event.schema.streamId)!, event.schema);
        break;
      case "truncate":
        for (const streamId of event.streamIds) {
          const version = Date.now();
          versions.set(streamId, version);
          state.bookmarks[streamId] = { ...state.bookmarks[streamId], version };
          await writer.line(formatActivateVersionMessage(streamId, version));
        }
        break;
      case "checkpoint":
        advanceLogPosition(
          state,
          plans.map((plan) => plan.schema.streamId).filter((id) => !recopy.has(id)),
          event.position,
        );
        await writer.line(formatStateMessage(state));
        await writer.flush();
        break;
      case "warning":
        process.stderr.write(`warning: ${event.message}\n`);
        break;
      case "recopy": {
        // A tap reads each stream once per run: the stream loses its position in the state it
        // emits now, and the next run copies it (a new table version) before changes follow.
        process.stderr.write(
          `warning: ${event.streamId}: ${event.reason}; its changes stop here and the next run copies the table again\n`,
        );
        recopy.add(event.streamId);
        const { lsn: _lsn, ...rest } = state.bookmarks[event.streamId] ?? {};
        state.bookmarks[event.streamId] = rest;
        await writer.line(formatStateMessage(state));
        await writer.flush();
        break;
      }
    }
  }
}

/**
 * The stream's schema of the selected columns, in batch order. Each column's is the tap's own
 * (`jsonSchemaOf`: the JSON types, formats and `x-sql-datatype` that describe the values it
 * writes), also where the catalog holds an earlier discovery's form of it (without those
 * annotations). A schema the catalog changed (a Meltano `schema` extra: another type, a format,
 * its own `x-sql-datatype`) is passed on as given, for the target to decide by.
 */
function streamSchema(catalog: Catalog, plan: StreamPlan): JsonSchema {
  const stream = catalog.streams.find((s) => s.tap_stream_id === plan.schema.streamId);
  const declared = stream?.schema.properties ?? {};
  const properties: Record<string, JsonSchema> = {};
  for (const column of plan.schema.columns) {
    const own = jsonSchemaOf(
      column.type,
      column.nullable && !plan.schema.keyProperties.includes(column.name),
    );
    const given = declared[column.name];
    const ownSqlType =
      given?.["x-sql-datatype"] === undefined || given["x-sql-datatype"] === own["x-sql-datatype"];
    properties[column.name] =
      given === undefined || (ownSqlType && discoveredForm(given) === discoveredForm(own)) ? own : given;
  }
  return { type: "object", properties };
}

/**
 * A property schema as text without what discovery added over time (`x-sql-datatype`,
 * `contentEncoding`, the `uuid` format, bigint's bounds) and without `null` among its types:
 * equal for the tap's own schema and an earlier discovery's form of it, different where a
 * `schema` extra changed it.
 */
function discoveredForm(schema: JsonSchema): string {
  const visit = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(visit);
    if (node === null || typeof node !== "object") return node;
    const { "x-sql-datatype": _sql, contentEncoding: _encoding, ...rest } = node as JsonSchema;
    if (rest.format === "uuid") delete rest.format;
    if (rest.minimum === -(2 ** 63) && rest.maximum === 2 ** 63) {
      delete rest.minimum;
      delete rest.maximum;
    }
    if (rest.type !== undefined)
      rest.type = [rest.type]
        .flat()
        .filter((t) => t !== "null")
        .sort();
    return Object.fromEntries(
      Object.keys(rest)
        .sort()
        .map((key) => [key, visit(rest[key])]),
    );
  };
  return JSON.stringify(visit(schema));
}
