import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import { parseSettings } from "../parse-settings.js";
import { SEQUENCE_COLUMN, type RecordBatch } from "../batch.js";
import { batchRowsAsJson } from "../batch-rows.js";
import type { StreamSchema } from "../column-type.js";
import type { Loader, OpenStreamOptions, PluginConfig, StreamWriter } from "../connector.js";

const targetJsonlConfig = z.object({
  destination_path: z.string().default("output"),
  do_timestamp_file: z.boolean().default(false),
  add_metadata_columns: z.boolean().default(false),
});

type TargetJsonlConfig = z.infer<typeof targetJsonlConfig>;

/**
 * target-jsonl: one `<stream>.jsonl` file per stream, for inspection and tests. A FULL_TABLE
 * stream is written to `<file>.tmp` and renamed over the file when complete; incremental batches
 * are appended and fsynced before `write` resolves.
 *
 * Change data capture: the file is a change log, not a copy of the table. Each change is a line
 * with its `_sdc_sequence`, `_sdc_deleted_at` when it is a delete, and without the fields the
 * change did not carry (see `batchRowsAsJson`). A truncate is a line of its own,
 * `{"_sdc_truncated_at":"<commit time>"}`: a reader replaying the file drops every row before it.
 */
export class JsonlLoader implements Loader {
  private readonly config: TargetJsonlConfig;
  private readonly dir: string;
  private readonly startedAt = new Date();

  constructor(config: PluginConfig, context: { projectDir: string }) {
    this.config = parseSettings("target-jsonl", targetJsonlConfig, config);
    this.dir = path.resolve(context.projectDir, this.config.destination_path);
  }

  async test(): Promise<void> {
    await fs.promises.mkdir(this.dir, { recursive: true });
    await fs.promises.access(this.dir, fs.constants.W_OK);
  }

  async openStream(schema: StreamSchema, options: OpenStreamOptions): Promise<StreamWriter> {
    await fs.promises.mkdir(this.dir, { recursive: true });
    const stamp = this.config.do_timestamp_file
      ? `-${this.startedAt.toISOString().replace(/[:.]/g, "")}`
      : "";
    const file = path.join(this.dir, `${jsonlFileStem(schema.streamId)}${stamp}.jsonl`);
    const target = options.mode === "replace" ? `${file}.tmp` : file;
    const handle = await fs.promises.open(target, options.mode === "replace" ? "w" : "a");
    const types = new Map(schema.columns.map((c) => [c.name, c.type]));
    const metadata = this.config.add_metadata_columns;
    return {
      write: async (batch: RecordBatch) => {
        const received = new Date().toISOString();
        // A CDC batch carries each row's `_sdc_sequence`; others get `sequenceBase` + position.
        const ownSequence = batch.columns.includes(SEQUENCE_COLUMN);
        const extra = metadata
          ? (i: number) =>
              `,"_sdc_extracted_at":"${batch.extractedAt.toISOString()}","_sdc_received_at":"${received}","_sdc_batched_at":"${received}"${ownSequence ? "" : `,"_sdc_sequence":${batch.sequenceBase + i}`},"_sdc_table_version":${options.version}`
          : undefined;
        let buffer: string[] = [];
        for await (const line of batchRowsAsJson(batch, types, extra)) {
          buffer.push(line);
          if (buffer.length >= 1000) {
            await handle.write(buffer.join("\n") + "\n");
            buffer = [];
          }
        }
        if (buffer.length > 0) await handle.write(buffer.join("\n") + "\n");
        await handle.sync();
      },
      truncate: async (at: Date) => {
        await handle.write(`{"_sdc_truncated_at":"${at.toISOString()}"}\n`);
        await handle.sync();
      },
      finish: async () => {
        await handle.close();
        if (target !== file) await fs.promises.rename(target, file);
      },
      abort: async () => {
        await handle.close();
        if (target !== file) await fs.promises.rm(target, { force: true });
      },
    };
  }

  async close(): Promise<void> {}
}

/** Longest file name stem, in bytes, that leaves room for the timestamp and `.jsonl.tmp` (255 in all). */
const MAX_STEM_BYTES = 200;

/**
 * The file name (without extension) of a stream: its id as it is, except the characters a file
 * name cannot hold (`/`, `\\`, NUL) and `%` itself, which are percent-encoded, so two streams never
 * share a file. An id too long for a file name is cut and made unique with a hash of the whole id.
 */
export function jsonlFileStem(streamId: string): string {
  const stem = streamId.replace(
    /[%/\\\0]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0")}`,
  );
  if (Buffer.byteLength(stem) <= MAX_STEM_BYTES) return stem;
  const hash = createHash("sha256").update(streamId).digest("hex").slice(0, 16);
  let cut = "";
  for (const ch of stem) {
    if (Buffer.byteLength(cut + ch) > MAX_STEM_BYTES - hash.length - 1) break;
    cut += ch;
  }
  return `${cut}~${hash}`;
}
