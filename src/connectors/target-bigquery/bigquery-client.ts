import { createHash, randomUUID } from "node:crypto";
import fs from "node:fs";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import type { BigQuery, BigQueryOptions, Job, JobMetadata, TableMetadata } from "@google-cloud/bigquery";
import type { OAuth2Client } from "google-auth-library";
import { ConfigError } from "../../errors.js";
import {
  BigqueryJobError,
  bigqueryError,
  httpStatusOf,
  withRetry,
  type BigqueryErrorProto,
  type RetryOptions,
} from "./bigquery-errors.js";
import type { TableField } from "./bigquery-types.js";

export interface BigqueryClientOptions {
  projectId: string;
  datasetId: string;
  location: string;
  /** Absolute path of a key file; undefined for application default credentials. */
  credentialsFile?: string;
  /** Where the key file was named (`credentials_path`, `GOOGLE_APPLICATION_CREDENTIALS`), for messages. */
  credentialsSource?: string;
  /** API root of an emulator (`api_endpoint` or BIGQUERY_EMULATOR_HOST); undefined for Google's. */
  apiEndpoint?: string;
  /** Every query job's `maximumBytesBilled` (`maximum_bytes_billed`). */
  maximumBytesBilled?: number;
  maxRetries: number;
  retryBaseDelayMs?: number;
  onRetry?: RetryOptions["onRetry"];
}

/**
 * The largest NDJSON range one load job sends: a gzipped upload may be at most 4 GB (see
 * `BigqueryClient.load`), and gzip's worst case adds 5 bytes per 16 KB block, so a range of
 * 4 GB less 64 MB stays under the cap however badly it compresses.
 */
export const MAX_LOAD_RANGE_BYTES = 4 * 1024 ** 3 - 64 * 1024 ** 2;

/** A byte range of an NDJSON file: one load job's data. */
/** What `tables.get` says of a table (the client's TableMetadata, with the counts as sent). */
export type TableResource = TableMetadata & {
  numRows?: string;
  streamingBuffer?: { estimatedRows?: string };
};

export interface NdjsonRange {
  path: string;
  start: number;
  /** Exclusive. */
  end: number;
}

/**
 * The BigQuery calls target-bigquery makes, through the official client, each retried on
 * transient failures and mapped to sluice's errors. Jobs carry ids made here, so that an insert
 * retried after a lost response finds the job it created instead of running it twice. A job that
 * writes rows for good (a load into a table that outlives the batch, a copy appending a batch)
 * gets an id made from what it writes: when the runner writes a batch again after a transient
 * failure, each of its jobs that already ran is found under its id and not run a second time.
 */
export class BigqueryClient {
  readonly bigquery: BigQuery;
  private readonly endpointLabel: string;
  private readonly credentialsLabel: string;
  /** Makes this client's job ids its own: another run writing the same file names never meets them. */
  private readonly jobIdSalt = randomUUID();

  /**
   * Loads Google's client only when target-bigquery is used: it is about 15 MB and half a
   * second of start-up that every other sluice command (each run, each scheduled job) would pay.
   */
  static async create(options: BigqueryClientOptions): Promise<BigqueryClient> {
    const [{ BigQuery }, { OAuth2Client }] = await Promise.all([
      import("@google-cloud/bigquery"),
      import("google-auth-library"),
    ]);
    return new BigqueryClient(options, { BigQuery, OAuth2Client });
  }

  private constructor(
    readonly options: BigqueryClientOptions,
    google: { BigQuery: typeof BigQuery; OAuth2Client: typeof OAuth2Client },
  ) {
    this.endpointLabel = options.apiEndpoint ?? "https://bigquery.googleapis.com";
    this.credentialsLabel = options.credentialsFile
      ? `${options.credentialsFile} (${options.credentialsSource ?? "credentials_path"})`
      : "application default credentials";
    this.bigquery = new google.BigQuery(clientOptions(options, google.OAuth2Client));
    if (options.apiEndpoint && options.credentialsFile) {
      // NOTE: google-auth-library fetches service-account tokens from a fixed Google URL; against
      // an emulator the key signs its own JWT (as Google's GAPIC clients do) and nothing leaves.
      (this.bigquery.authClient as unknown as { useJWTAccessWithScope?: boolean }).useJWTAccessWithScope =
        true;
    }
  }

  private retryOptions(): RetryOptions {
    return {
      maxRetries: this.options.maxRetries,
      ...(this.options.retryBaseDelayMs !== undefined ? { baseDelayMs: this.options.retryBaseDelayMs } : {}),
      ...(this.options.onRetry ? { onRetry: this.options.onRetry } : {}),
    };
  }

  /** Runs `call` with retries; a final failure becomes a sluice error saying what was being done. */
  async call<T>(action: string, call: () => Promise<T>): Promise<T> {
    try {
      return await withRetry(call, this.retryOptions());
    } catch (error) {
      throw bigqueryError(error, action, {
        endpoint: this.endpointLabel,
        credentials: this.credentialsLabel,
      });
    }
  }

  private get dataset() {
    return this.bigquery.dataset(this.options.datasetId, { location: this.options.location });
  }

  table(name: string) {
    return this.dataset.table(name, { location: this.options.location });
  }

  /** The dataset in `location`, created if missing. */
  async ensureDataset(): Promise<void> {
    const { datasetId, location } = this.options;
    const metadata = await this.call(`reading dataset ${datasetId}`, async () => {
      try {
        return (await this.dataset.getMetadata())[0] as { location?: string };
      } catch (error) {
        if (httpStatusOf(error) === 404) return undefined;
        throw error;
      }
    });
    if (metadata) {
      // Jobs run where the dataset is; a dataset elsewhere would fail every job with a 404.
      if (metadata.location && metadata.location.toLowerCase() !== location.toLowerCase()) {
        throw new ConfigError(
          `target-bigquery location: dataset ${this.options.projectId}.${datasetId} is in ${metadata.location}, not ${location}; set location: ${metadata.location}`,
        );
      }
      return;
    }
    await this.call(`creating dataset ${datasetId} in ${location}`, async () => {
      try {
        await this.dataset.create({ location });
      } catch (error) {
        if (httpStatusOf(error) !== 409) throw error; // created meanwhile by a concurrent run
      }
    });
  }

  /** Checks the credentials and the project: reads the dataset (missing is fine: it will be created). */
  async test(): Promise<void> {
    await this.call(`reading dataset ${this.options.projectId}.${this.options.datasetId}`, () =>
      this.dataset.exists(),
    );
  }

  /** The table's fields, or undefined when it does not exist. */
  async tableFields(name: string): Promise<TableField[] | undefined> {
    const metadata = await this.tableMetadata(name);
    return metadata === undefined ? undefined : ((metadata.schema?.fields ?? []) as TableField[]);
  }

  /**
   * The table's resource (`tables.get`: free, no job), or undefined when it does not exist: its
   * fields, partitioning, clustering, and `numRows`, which leaves out rows still in the streaming
   * buffer (`streamingBuffer.estimatedRows`) and changes not applied yet.
   */
  async tableMetadata(name: string): Promise<TableResource | undefined> {
    return this.call(`reading table ${this.qualified(name)}`, async () => {
      try {
        const [metadata] = (await this.table(name).getMetadata()) as unknown as [TableResource];
        return metadata;
      } catch (error) {
        if (httpStatusOf(error) === 404) return undefined;
        throw error;
      }
    });
  }

  async createTable(name: string, metadata: TableMetadata): Promise<void> {
    await this.call(`creating table ${this.qualified(name)}`, async () => {
      try {
        await this.dataset.createTable(name, metadata);
      } catch (error) {
        if (httpStatusOf(error) !== 409) throw error; // a retried request that had succeeded
      }
    });
  }

  async deleteTable(name: string): Promise<void> {
    await this.call(`deleting table ${this.qualified(name)}`, async () => {
      try {
        await this.table(name).delete();
      } catch (error) {
        if (httpStatusOf(error) !== 404) throw error;
      }
    });
  }

  /** Runs a GoogleSQL statement to completion and returns its rows. */
  async query(sql: string, action: string): Promise<Record<string, unknown>[]> {
    const job = await this.runJob(action, undefined, (jobId) =>
      this.bigquery
        .createQueryJob({
          query: sql,
          location: this.options.location,
          jobId,
          ...(this.options.maximumBytesBilled !== undefined
            ? { maximumBytesBilled: String(this.options.maximumBytesBilled) }
            : {}),
        })
        .then(([j]) => j),
    );
    return this.call(action, async () => (await job.getQueryResults())[0] as Record<string, unknown>[]);
  }

  /**
   * Loads NDJSON bytes into `table` with one load job; resolves when the job is DONE without
   * errors. The job's id comes from the table and the bytes: loading them again (a batch written
   * again) finds the job that already ran instead of adding the rows twice.
   *
   * The bytes go gzipped: NDJSON of a table's rows shrinks several times (the column names repeat
   * on every line), and BigQuery reads gzip-compressed JSON in load jobs, knowing it by its magic
   * bytes. A gzipped file is read by one worker and may be at most 4 GB
   * (https://cloud.google.com/bigquery/docs/loading-data-cloud-storage-json#limitations,
   * https://cloud.google.com/bigquery/quotas#load_jobs): ranges are cut below that before
   * compression (`MAX_LOAD_RANGE_BYTES`), and gzip never grows text past it.
   */
  async load(
    table: string,
    range: NdjsonRange,
    options: { writeDisposition: "WRITE_APPEND" | "WRITE_TRUNCATE"; action: string },
  ): Promise<string> {
    const key = `load\0${table}\0${range.path}\0${range.start}\0${range.end}`;
    const job = await this.runJob(options.action, key, async (jobId) => {
      const writable = this.table(table).createWriteStream_({
        sourceFormat: "NEWLINE_DELIMITED_JSON",
        writeDisposition: options.writeDisposition,
        createDisposition: "CREATE_NEVER",
        jobId,
      });
      const created = new Promise<Job>((resolve, reject) => {
        writable.once("job", (j: Job) => resolve(j));
        writable.once("error", reject);
      });
      // Both settle: a failed upload rejects the pipeline and `created` alike, neither unhandled.
      const [, job] = await Promise.all([
        pipeline(
          fs.createReadStream(range.path, { start: range.start, end: range.end - 1 }),
          // Level 9: 39 bytes a row in the bench against level 6's 42, for a little more CPU,
          // which a run spends waiting on BigQuery anyway.
          createGzip({ level: 9 }),
          writable,
        ),
        created,
      ]);
      return job;
    });
    return job.id ?? "";
  }

  /**
   * Copies `from` onto `to` with one copy job (atomic: readers see the old or the new rows).
   * `jobKey` names what the copy writes (a batch appended through a staging table of its own):
   * copying it again finds the job that already ran instead of appending twice.
   */
  async copy(
    from: string,
    to: string,
    writeDisposition: "WRITE_APPEND" | "WRITE_TRUNCATE",
    options: { jobKey?: string } = {},
  ): Promise<void> {
    const key = options.jobKey === undefined ? undefined : `copy\0${to}\0${options.jobKey}`;
    await this.runJob(`copying ${this.qualified(from)} to ${this.qualified(to)}`, key, (jobId) =>
      this.table(from)
        .createCopyJob(this.table(to), { writeDisposition, createDisposition: "CREATE_IF_NEEDED", jobId })
        .then(([j]) => j),
    );
  }

  qualified(table: string): string {
    return `${this.options.projectId}.${this.options.datasetId}.${table}`;
  }

  /**
   * Starts a job and waits until it is DONE. Its insert is retried under the same id, so a
   * response lost on the way back cannot start a second job; so is a wait whose status requests
   * kept failing: the next try looks for that job again rather than starting another. Only a
   * job that failed (for a backend reason, or one found failed, below) moves on to the next id
   * (`<base>_1`, `_2`, ..., bounded by `maxRetries`). With a `key`, the base id is made from it:
   * a second `runJob` with that key (the runner writing a batch again) walks the same ids, finds
   * a job that already succeeded and returns it, waits for one still running, and passes over
   * one that failed (an earlier try's: it says nothing of this one).
   */
  private async runJob(
    action: string,
    key: string | undefined,
    start: (jobId: string) => Promise<Job>,
  ): Promise<Job> {
    const base =
      key === undefined
        ? `sluice_${randomUUID().replaceAll("-", "")}`
        : `sluice_${createHash("sha256").update(`${this.jobIdSalt}\0${key}`).digest("hex").slice(0, 40)}`;
    let next = 0;
    return this.call(action, async () => {
      for (;;) {
        const jobId = `${base}_${next}`;
        let existing = false;
        const job = await withRetry(async () => {
          try {
            return await start(jobId);
          } catch (error) {
            if (httpStatusOf(error) !== 409) throw error;
            existing = true;
            return this.bigquery.job(jobId, { location: this.options.location });
          }
        }, this.retryOptions());
        try {
          await this.waitForJob(job);
          return job;
        } catch (error) {
          if (!(error instanceof BigqueryJobError)) throw error;
          next += 1;
          if (existing && key !== undefined) continue;
          throw error;
        }
      }
    });
  }

  private async waitForJob(job: Job): Promise<void> {
    let delay = 100;
    for (;;) {
      const [metadata] = (await withRetry(() => job.getMetadata(), this.retryOptions())) as unknown as [
        JobMetadata,
      ];
      const status = metadata.status;
      if (status?.state === "DONE") {
        if (status.errorResult) {
          throw new BigqueryJobError(
            job.id ?? metadata.jobReference?.jobId ?? "?",
            status.errorResult as BigqueryErrorProto,
            (status.errors ?? []) as BigqueryErrorProto[],
          );
        }
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 2000);
    }
  }
}

function clientOptions(options: BigqueryClientOptions, Auth: typeof OAuth2Client): BigQueryOptions {
  const base: BigQueryOptions = {
    projectId: options.projectId,
    location: options.location,
    // Retries are ours (`withRetry`): one policy for requests and jobs, with job ids kept.
    autoRetry: false,
    ...(options.apiEndpoint ? { apiEndpoint: options.apiEndpoint } : {}),
  };
  if (!options.credentialsFile) {
    if (!options.apiEndpoint) return base;
    // An emulator without credentials: a fixed bearer token keeps google-auth-library from
    // looking for application default credentials (none exist on a test machine).
    // NOTE: `apiKey` would do for plain requests, but the client's multipart upload then sends
    // no headers object and fails inside teeny-request.
    const emulatorAuth = new Auth();
    emulatorAuth.setCredentials({
      access_token: "sluice-emulator",
      expiry_date: Date.now() + 365 * 86_400_000,
    });
    return { ...base, authClient: emulatorAuth as unknown as BigQueryOptions["authClient"] };
  }
  const key = readKeyFile(options.credentialsFile, options.credentialsSource ?? "credentials_path");
  if (options.apiEndpoint && key.type === "service_account") {
    return {
      ...base,
      credentials: {
        client_email: key.client_email,
        private_key: key.private_key,
        ...(key.private_key_id ? { private_key_id: key.private_key_id } : {}),
      } as BigQueryOptions["credentials"],
    };
  }
  return { ...base, keyFilename: options.credentialsFile };
}

interface KeyFile {
  type: string;
  client_email?: string;
  private_key?: string;
  private_key_id?: string;
}

/** Reads and checks a credentials file up front, so a wrong path is a ConfigError, not a 401 later. */
export function readKeyFile(file: string, setting: string): KeyFile {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (error) {
    throw new ConfigError(
      `${setting}: cannot read the credentials file ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      { cause: error },
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`${setting}: ${file} is not a JSON key file (${(error as Error).message})`, {
      cause: error,
    });
  }
  const key = (typeof parsed === "object" && parsed !== null ? parsed : {}) as Partial<KeyFile>;
  if (typeof key.type !== "string") {
    throw new ConfigError(
      `${setting}: ${file} has no "type" (expected a service-account key file from Google Cloud)`,
    );
  }
  if (
    key.type === "service_account" &&
    (typeof key.client_email !== "string" || typeof key.private_key !== "string")
  ) {
    throw new ConfigError(`${setting}: ${file} is a service-account key without client_email or private_key`);
  }
  return key as KeyFile;
}
