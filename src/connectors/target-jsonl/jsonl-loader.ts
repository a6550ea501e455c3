import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";
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
 *
 * Singer table versions (`tableVersion`): each line carries `_sdc_table_version`. A stream that
 * begins with ACTIVATE_VERSION(v) rewrites the file (as FULL_TABLE does) unless it holds a line
 * of v; ACTIVATE_VERSION in the file rewrites it without the lines of other versions.
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
    const replace =
      options.mode === "replace" ||
      (options.tableVersion === "activate" && !(await holdsVersion(file, options.version)));
    const target = replace ? `${file}.tmp` : file;
    let handle = await fs.promises.open(target, replace ? "w" : "a");
    const types = new Map(schema.columns.map((c) => [c.name, c.type]));
    const metadata = this.config.add_metadata_columns;
    const versioned = options.tableVersion !== undefined;
    return {
      replaces: replace,
      write: async (batch: RecordBatch) => {
        const received = new Date().toISOString();
        // A CDC batch carries each row's `_sdc_sequence`; others get `sequenceBase` + position.
        const ownSequence = batch.columns.includes(SEQUENCE_COLUMN);
        const extra = metadata
          ? (i: number) =>
              `,"_sdc_extracted_at":"${batch.extractedAt.toISOString()}","_sdc_received_at":"${received}","_sdc_batched_at":"${received}"${ownSequence ? "" : `,"_sdc_sequence":${batch.sequenceBase + i}`},"_sdc_table_version":${options.version}`
          : versioned
            ? () => `,"_sdc_table_version":${options.version}`
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
      activateVersion: async () => {
        if (replace) return;
        // The file is replaced: later lines go to the new one.
        await handle.close();
        await keepOnlyVersion(file, options.version);
        handle = await fs.promises.open(file, "a");
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

/** The `_sdc_table_version` of a line, if it has one. */
function versionOfLine(line: string): unknown {
  try {
    return (JSON.parse(line) as Record<string, unknown>)._sdc_table_version;
  } catch {
    return undefined;
  }
}

async function holdsVersion(file: string, version: number): Promise<boolean> {
  if (!fs.existsSync(file)) return false;
  const lines = createInterface({ input: fs.createReadStream(file), crlfDelay: Infinity });
  for await (const line of lines) {
    if (line && versionOfLine(line) === version) {
      lines.close();
      return true;
    }
  }
  return false;
}

/** Rewrites `file` without the lines of other versions (or of none), replacing it atomically. */
async function keepOnlyVersion(file: string, version: number): Promise<void> {
  const kept = `${file}.activate`;
  const out = await fs.promises.open(kept, "w");
  try {
    const lines = createInterface({ input: fs.createReadStream(file), crlfDelay: Infinity });
    let buffer: string[] = [];
    for await (const line of lines) {
      if (!line || versionOfLine(line) !== version) continue;
      buffer.push(line);
      if (buffer.length >= 1000) {
        await out.write(buffer.join("\n") + "\n");
        buffer = [];
      }
    }
    if (buffer.length > 0) await out.write(buffer.join("\n") + "\n");
    await out.sync();
  } finally {
    await out.close();
  }
  await fs.promises.rename(kept, file);
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
