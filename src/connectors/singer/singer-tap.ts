import fs from "node:fs";
import type { Catalog, JsonSchema } from "../../protocol/catalog.js";
import {
  formatActivateVersionMessage,
  formatRecordMessage,
  formatSchemaMessage,
  formatStateMessage,
} from "../../protocol/singer-messages.js";
import type { SingerWriter } from "../../protocol/singer-writer.js";
import { emptyState, type SingerState } from "../../protocol/state.js";
import { batchRowsAsJson } from "../batch-rows.js";
import type { ColumnType } from "../column-type.js";
import type { Extractor, StreamPlan } from "../connector.js";
import { jsonSchemaOf } from "../postgres/postgres-types.js";

export interface SingerTapOptions {
  extractor: Extractor;
  /** The catalog with `selected` metadata, as given by `--catalog` or `--properties`. */
  catalog: Catalog;
  state: SingerState | undefined;
  writer: SingerWriter;
  spoolDir: string;
  signal?: AbortSignal;
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
  const plans = await extractor.plan(options.catalog);
  const state: SingerState = structuredClone(options.state ?? emptyState());
  fs.mkdirSync(options.spoolDir, { recursive: true });
  const session = await extractor.open({ spoolDir: options.spoolDir });
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
    await writer.flush();
  } finally {
    await session.close().catch(() => undefined);
    await extractor.close().catch(() => undefined);
    fs.rmSync(options.spoolDir, { recursive: true, force: true });
  }
}

/** The catalog's schema of the stream, narrowed to the selected columns in batch order. */
function streamSchema(catalog: Catalog, plan: StreamPlan): JsonSchema {
  const stream = catalog.streams.find((s) => s.tap_stream_id === plan.schema.streamId);
  const declared = stream?.schema.properties ?? {};
  const properties: Record<string, JsonSchema> = {};
  for (const column of plan.schema.columns) {
    properties[column.name] =
      declared[column.name] ??
      jsonSchemaOf(column.type, column.nullable && !plan.schema.keyProperties.includes(column.name));
  }
  return { type: "object", properties };
}
