import crypto from "node:crypto";
import fs from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import os from "node:os";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { BigQueryApiError, invalid, notFound } from "./bigquery-api-error.js";
import type { BigQueryCatalog } from "./bigquery-catalog.js";
import { drain, readBody, readJson, sendJson } from "./bigquery-http.js";
import type { JobsResource } from "./bigquery-jobs-resource.js";

interface ResumableUpload {
  metadata: Record<string, unknown>;
  file: string;
  received: number;
  projectId: string;
}

/**
 * The media upload of jobs.insert (a load job with its data), and the resumable sessions it
 * opens. The data goes to a temporary file, deleted once the job has run or the emulator closes.
 */
export class JobUploads {
  private readonly uploads = new Map<string, ResumableUpload>();

  /** `url` is the emulator's, known once it listens. */
  constructor(
    private readonly catalog: BigQueryCatalog,
    private readonly jobs: JobsResource,
    private readonly url: () => string,
  ) {}

  /**
   * `POST /upload/bigquery/v2/projects/{p}/jobs`: `uploadType=multipart` (the job resource and the
   * data in one multipart/related body; what `table.load()` and `createWriteStream()` send) and
   * `uploadType=resumable` (the resource first, then the data by PUT, in one piece or in chunks
   * with Content-Range).
   */
  async handle(
    req: IncomingMessage,
    res: ServerResponse,
    project: string,
    rest: string[],
    query: URLSearchParams,
  ): Promise<void> {
    if (rest[0] !== "jobs" || rest.length !== 1) {
      await drain(req);
      throw notFound(`URL ${req.url ?? ""}`);
    }
    this.catalog.checkProject(project);
    const uploadType = query.get("uploadType");
    const method = req.method ?? "POST";
    if (uploadType === "multipart" && method === "POST") {
      const { metadata, file } = await receiveMultipart(req);
      try {
        sendJson(res, 200, await this.jobs.insert(metadata, file));
      } finally {
        fs.rmSync(file, { force: true });
      }
      return;
    }
    if (uploadType === "resumable") {
      const uploadId = query.get("upload_id");
      if (method === "POST" && uploadId === null) {
        const metadata = await readJson(req);
        const id = crypto.randomBytes(16).toString("hex");
        const file = tempFile("upload");
        fs.writeFileSync(file, "");
        this.uploads.set(id, { metadata, file, received: 0, projectId: project });
        res.writeHead(200, {
          Location: `${this.url()}/upload/bigquery/v2/projects/${encodeURIComponent(project)}/jobs?uploadType=resumable&upload_id=${id}`,
          "Content-Length": "0",
        });
        res.end();
        return;
      }
      const upload = uploadId === null ? undefined : this.uploads.get(uploadId);
      if (!upload) {
        await drain(req);
        throw new BigQueryApiError(404, "notFound", "No such upload session");
      }
      if (method === "PUT" || method === "POST") {
        const range = req.headers["content-range"];
        const m = typeof range === "string" ? /^bytes (?:(\d+)-(\d+)|\*)\/(\d+|\*)$/.exec(range) : null;
        const chunk = await readBody(req);
        if (m?.[1] !== undefined && Number(m[1]) !== upload.received) {
          throw invalid(`Chunk starts at ${m[1]} but ${upload.received} bytes were received`);
        }
        fs.appendFileSync(upload.file, chunk);
        upload.received += chunk.length;
        const total = m?.[3];
        if (m && (total === "*" || total === undefined || Number(total) > upload.received)) {
          res.writeHead(308, upload.received > 0 ? { Range: `bytes=0-${upload.received - 1}` } : {});
          res.end();
          return;
        }
        this.uploads.delete(uploadId!);
        try {
          sendJson(res, 200, await this.jobs.insert(upload.metadata, upload.file));
        } finally {
          fs.rmSync(upload.file, { force: true });
        }
        return;
      }
    }
    await drain(req);
    throw invalid(`Unsupported upload: ${method} uploadType=${uploadType ?? ""}`);
  }

  /** Deletes the data of sessions never completed. */
  close(): void {
    for (const upload of this.uploads.values()) fs.rmSync(upload.file, { force: true });
  }
}

function tempFile(kind: string): string {
  return path.join(
    os.tmpdir(),
    `bq-emulator-${kind}-${process.pid}-${crypto.randomBytes(8).toString("hex")}`,
  );
}

/**
 * Receives a multipart/related upload into a file without holding it in memory: the whole body
 * goes to disk, then the JSON part is read from its head and the data part copied out by range.
 */
async function receiveMultipart(
  req: IncomingMessage,
): Promise<{ metadata: Record<string, unknown>; file: string }> {
  const contentType = req.headers["content-type"] ?? "";
  const boundary = /boundary="?([^";]+)"?/i.exec(contentType)?.[1];
  if (!boundary) {
    await drain(req);
    throw invalid("Multipart upload needs a multipart/related Content-Type with a boundary");
  }
  const raw = tempFile("multipart");
  await pipeline(req, fs.createWriteStream(raw));
  try {
    const size = fs.statSync(raw).size;
    const fd = fs.openSync(raw, "r");
    let head: Buffer;
    let tail: Buffer;
    try {
      head = Buffer.alloc(Math.min(size, 4 << 20));
      fs.readSync(fd, head, 0, head.length, 0);
      tail = Buffer.alloc(Math.min(size, boundary.length + 64));
      fs.readSync(fd, tail, 0, tail.length, size - tail.length);
    } finally {
      fs.closeSync(fd);
    }
    const delimiter = Buffer.from(`--${boundary}`);
    const first = head.indexOf(delimiter);
    const metaStart = head.indexOf("\r\n\r\n", first) + 4;
    const second = head.indexOf(Buffer.from(`\r\n--${boundary}`), metaStart);
    if (first === -1 || metaStart < 4 || second === -1) throw invalid("Malformed multipart body");
    const metadata = JSON.parse(head.subarray(metaStart, second).toString("utf8")) as Record<string, unknown>;
    const dataStart = head.indexOf("\r\n\r\n", second + 2) + 4;
    const closing = tail.lastIndexOf(Buffer.from(`\r\n--${boundary}--`));
    if (dataStart < 4 || closing === -1) throw invalid("Malformed multipart body");
    const dataEnd = size - tail.length + closing;
    const file = tempFile("data");
    if (dataEnd > dataStart) {
      await pipeline(
        fs.createReadStream(raw, { start: dataStart, end: dataEnd - 1 }),
        fs.createWriteStream(file),
      );
    } else {
      fs.writeFileSync(file, "");
    }
    return { metadata, file };
  } finally {
    fs.rmSync(raw, { force: true });
  }
}
