import { BigQuery } from "@google-cloud/bigquery";
import { adapt, managedwriter, protos } from "@google-cloud/bigquery-storage";
import * as grpc from "@grpc/grpc-js";
import { OAuth2Client } from "google-auth-library";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startBigQueryEmulator, type BigQueryEmulator } from "@sluice/emulators/bigquery";

/**
 * The emulator's Storage Write API through the official client (`managedwriter`), as BigQuery
 * documents it: change data capture on the default stream only, on a table with a primary key of
 * at most 16 columns, ordered by `_CHANGE_SEQUENCE_NUMBER`; pending streams committed at once.
 */

const PROJECT = "emu-project";
const DATASET = "cdc";
let emulator: BigQueryEmulator;
let bq: BigQuery;
let writer: managedwriter.WriterClient;
let tableCount = 0;

type Row = Record<string, unknown>;

beforeAll(async () => {
  emulator = await startBigQueryEmulator({ projectId: PROJECT });
  bq = new BigQuery({
    projectId: PROJECT,
    apiEndpoint: emulator.url,
    // google-gax types its own copy of google-auth-library; the object is the same kind.
    authClient: new OAuth2Client({ credentials: { access_token: "emulator" } }) as never,
  });
  await bq.createDataset(DATASET, { location: "US" });
  const [host, port] = emulator.storageWrite.endpoint.split(":") as [string, string];
  writer = new managedwriter.WriterClient({
    projectId: PROJECT,
    apiEndpoint: host,
    port: Number(port),
    sslCreds: grpc.credentials.createInsecure(),
    // google-gax types its own copy of google-auth-library; the object is the same kind.
    authClient: new OAuth2Client({ credentials: { access_token: "emulator" } }) as never,
  });
});

afterAll(async () => {
  writer?.close();
  await emulator?.close();
});

async function createTable(
  options: { key?: string[]; maxStaleness?: string; columns?: number } = {},
): Promise<string> {
  const id = `t${++tableCount}`;
  const extra = Array.from({ length: options.columns ?? 0 }, (_, i) => ({
    name: `k${i}`,
    type: "INT64",
    mode: "REQUIRED",
  }));
  await bq.dataset(DATASET).createTable(id, {
    schema: {
      fields: [
        { name: "id", type: "INT64", mode: "REQUIRED" },
        { name: "name", type: "STRING" },
        { name: "amount", type: "NUMERIC" },
        ...extra,
      ],
    },
    ...(options.key ? { tableConstraints: { primaryKey: { columns: options.key } } } : {}),
    ...(options.maxStaleness ? { maxStaleness: options.maxStaleness } : {}),
  });
  return `projects/${PROJECT}/datasets/${DATASET}/tables/${id}`;
}

async function jsonWriter(
  table: string,
  options: {
    cdc?: boolean;
    streamType?: Parameters<managedwriter.WriterClient["createWriteStream"]>[0]["streamType"];
  } = {},
): Promise<{ writer: managedwriter.JSONWriter; streamId: string }> {
  const streamType = options.streamType ?? managedwriter.DefaultStream;
  const streamId =
    streamType === managedwriter.DefaultStream
      ? `${table}/streams/_default`
      : await writer.createWriteStream({ streamType, destinationTable: table });
  const stream = await writer.getWriteStream({
    streamId,
    view: protos.google.cloud.bigquery.storage.v1.WriteStreamView.FULL,
  });
  const schema = options.cdc
    ? {
        ...stream.tableSchema,
        fields: [
          ...(stream.tableSchema?.fields ?? []),
          { name: "_CHANGE_TYPE", type: "STRING", mode: "NULLABLE" },
          { name: "_CHANGE_SEQUENCE_NUMBER", type: "STRING", mode: "NULLABLE" },
        ],
      }
    : stream.tableSchema!;
  const descriptor = adapt.convertStorageSchemaToProto2Descriptor(
    schema as protos.google.cloud.bigquery.storage.v1.ITableSchema,
    "root",
  );
  const connection = await writer.createStreamConnection({ streamId });
  return { writer: new managedwriter.JSONWriter({ connection, protoDescriptor: descriptor }), streamId };
}

async function rows(table: string): Promise<Row[]> {
  const id = table.split("/").pop()!;
  const [result] = await bq.query(
    `SELECT id, name, CAST(amount AS STRING) AS amount FROM ${DATASET}.${id} ORDER BY id`,
  );
  return result as Row[];
}

describe("default stream, change data capture", () => {
  test("UPSERT replaces the whole row and DELETE removes it, by the primary key", async () => {
    const table = await createTable({ key: ["id"] });
    const { writer: w } = await jsonWriter(table, { cdc: true });
    const first = await w
      .appendRows([
        { id: 1, name: "a", amount: "1.5", _CHANGE_TYPE: "UPSERT" },
        { id: 2, name: "b", amount: "2", _CHANGE_TYPE: "UPSERT" },
        { id: 3, name: "c", amount: "3", _CHANGE_TYPE: "UPSERT" },
      ])
      .getResult();
    expect(first.error).toBeFalsy();
    await w
      .appendRows([
        // No amount: an UPSERT is the whole row, so amount becomes NULL.
        { id: 1, name: "a2", _CHANGE_TYPE: "UPSERT" },
        { id: 2, _CHANGE_TYPE: "DELETE" },
      ])
      .getResult();
    w.close();
    expect(await rows(table)).toEqual([
      { id: 1, name: "a2", amount: null },
      { id: 3, name: "c", amount: "3" },
    ]);
  });

  test("_CHANGE_SEQUENCE_NUMBER orders the changes of a key, also against changes applied earlier", async () => {
    const table = await createTable({ key: ["id"] });
    const { writer: w } = await jsonWriter(table, { cdc: true });
    await w
      .appendRows([
        { id: 1, name: "newest", _CHANGE_TYPE: "UPSERT", _CHANGE_SEQUENCE_NUMBER: "16/B374D848" },
        { id: 1, name: "older", _CHANGE_TYPE: "UPSERT", _CHANGE_SEQUENCE_NUMBER: "16/B374D847" },
        { id: 2, name: "kept", _CHANGE_TYPE: "UPSERT", _CHANGE_SEQUENCE_NUMBER: "A" },
        // Sections compare as numbers: "A/1" follows "9/FFFF".
        { id: 3, name: "first", _CHANGE_TYPE: "UPSERT", _CHANGE_SEQUENCE_NUMBER: "9/FFFF" },
        { id: 3, name: "second", _CHANGE_TYPE: "UPSERT", _CHANGE_SEQUENCE_NUMBER: "a/1" },
      ])
      .getResult();
    // A resend of an older change (at-least-once) does not undo the newer one already applied.
    await w.appendRows([{ id: 2, _CHANGE_TYPE: "DELETE", _CHANGE_SEQUENCE_NUMBER: "9" }]).getResult();
    w.close();
    expect((await rows(table)).map((r) => [r.id, r.name])).toEqual([
      [1, "newest"],
      [2, "kept"],
      [3, "second"],
    ]);
  });

  test("a malformed _CHANGE_SEQUENCE_NUMBER or _CHANGE_TYPE fails the append with the row's error", async () => {
    const table = await createTable({ key: ["id"] });
    const { writer: w } = await jsonWriter(table, { cdc: true });
    const result = await w
      .appendRows([
        { id: 1, name: "ok", _CHANGE_TYPE: "UPSERT", _CHANGE_SEQUENCE_NUMBER: "1/2/3/4/5" },
        { id: 2, name: "x", _CHANGE_TYPE: "INSERT" },
      ])
      .getResult();
    w.close();
    expect(result.error?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(result.rowErrors?.map((e) => [Number(e.index), e.message])).toEqual([
      [0, expect.stringMatching(/one to four hexadecimal sections/)],
      [1, expect.stringMatching(/UPSERT or DELETE/)],
    ]);
    expect(await rows(table)).toEqual([]);
  });

  test("_CHANGE_TYPE needs a primary key, of at most 16 columns", async () => {
    const noKey = await createTable();
    const { writer: w } = await jsonWriter(noKey, { cdc: true });
    const result = await w.appendRows([{ id: 1, _CHANGE_TYPE: "UPSERT" }]).getResult();
    w.close();
    expect(result.error?.message).toMatch(/needs a primary key/);

    const wide = await createTable({
      key: ["id", ...Array.from({ length: 16 }, (_, i) => `k${i}`)],
      columns: 16,
    });
    const { writer: w2 } = await jsonWriter(wide, { cdc: true });
    const row: Parameters<managedwriter.JSONWriter["appendRows"]>[0][number] = {
      id: 1,
      _CHANGE_TYPE: "UPSERT",
    };
    for (let i = 0; i < 16; i++) row[`k${i}`] = i;
    const wideResult = await w2.appendRows([row]).getResult();
    w2.close();
    expect(wideResult.error?.message).toMatch(/17 columns; change data capture supports at most 16/);
  });

  test("with max_staleness, queries read the table as the last background apply left it", async () => {
    const table = await createTable({ key: ["id"], maxStaleness: "0-0 0 0:15:0" });
    const { writer: w } = await jsonWriter(table, { cdc: true });
    await w.appendRows([{ id: 1, name: "a", _CHANGE_TYPE: "UPSERT" }]).getResult();
    w.close();
    expect(await rows(table)).toEqual([]);
    const before = emulator.storageWrite.stats.applyJobs;
    await emulator.storageWrite.applyPendingChanges();
    expect(emulator.storageWrite.stats.applyJobs).toBe(before + 1);
    expect(await rows(table)).toEqual([{ id: 1, name: "a", amount: null }]);
  });

  // https://cloud.google.com/bigquery/docs/change-data-capture#limitations: "CDC-enabled tables
  // don't support ... mutating data manipulation language (DML) statements such as DELETE,
  // UPDATE, and MERGE".
  test("a table that received CDC changes refuses UPDATE, DELETE and MERGE; INSERT and TRUNCATE see pending changes applied first", async () => {
    const table = await createTable({ key: ["id"], maxStaleness: "0-0 0 1:0:0" });
    const { writer: w } = await jsonWriter(table, { cdc: true });
    await w.appendRows([{ id: 1, name: "a", _CHANGE_TYPE: "UPSERT" }]).getResult();
    w.close();
    const id = table.split("/").pop()!;
    for (const sql of [
      `UPDATE ${DATASET}.${id} SET amount = 7 WHERE id = 1`,
      `DELETE FROM ${DATASET}.${id} WHERE id = 1`,
      `MERGE ${DATASET}.${id} T USING (SELECT 1 AS id) S ON T.id = S.id WHEN MATCHED THEN DELETE`,
    ]) {
      await expect(bq.query(sql)).rejects.toThrow(/is not supported: the table receives change data capture/);
    }
    expect(await rows(table)).toEqual([]);
    await bq.query(`INSERT INTO ${DATASET}.${id} (id, name) VALUES (2, 'b')`);
    expect(await rows(table)).toEqual([
      { id: 1, name: "a", amount: null },
      { id: 2, name: "b", amount: null },
    ]);
    await bq.query(`TRUNCATE TABLE ${DATASET}.${id}`);
    expect(await rows(table)).toEqual([]);
  });

  test("a table that received no CDC changes takes mutating DML", async () => {
    const table = await createTable({ key: ["id"], maxStaleness: "0-0 0 1:0:0" });
    const id = table.split("/").pop()!;
    await bq.query(`INSERT INTO ${DATASET}.${id} (id, name) VALUES (1, 'a')`);
    await bq.query(`UPDATE ${DATASET}.${id} SET amount = 7 WHERE id = 1`);
    expect(await rows(table)).toEqual([{ id: 1, name: "a", amount: "7" }]);
  });
});

describe("application-created streams", () => {
  test("a pending stream's rows appear only when BatchCommitWriteStreams commits it, after finalizing", async () => {
    const table = await createTable({ key: ["id"] });
    const { writer: w, streamId } = await jsonWriter(table, { streamType: managedwriter.PendingStream });
    const r0 = await w.appendRows([{ id: 1, name: "a" }], 0).getResult();
    const r1 = await w.appendRows([{ id: 2, name: "b" }], 1).getResult();
    expect([r0.appendResult?.offset?.value, r1.appendResult?.offset?.value].map(Number)).toEqual([0, 1]);
    const resent = await w.appendRows([{ id: 2, name: "b" }], 1).getResult();
    expect(resent.error?.code).toBe(grpc.status.ALREADY_EXISTS);
    const early = await writer.batchCommitWriteStream({ parent: table, writeStreams: [streamId] });
    expect(early.streamErrors?.[0]?.code).toBe("INVALID_STREAM_STATE");
    expect(await rows(table)).toEqual([]);
    const finalized = await writer.finalizeWriteStream({ name: streamId });
    expect(Number(finalized.rowCount)).toBe(2);
    const commit = await writer.batchCommitWriteStream({ parent: table, writeStreams: [streamId] });
    expect(commit.commitTime).toBeTruthy();
    w.close();
    expect((await rows(table)).map((r) => r.id)).toEqual([1, 2]);
  });

  test("a pending stream refuses _CHANGE_TYPE", async () => {
    const table = await createTable({ key: ["id"] });
    const { writer: w } = await jsonWriter(table, { cdc: true, streamType: managedwriter.PendingStream });
    const result = await w.appendRows([{ id: 1, _CHANGE_TYPE: "UPSERT" }], 0).getResult();
    w.close();
    expect(result.error?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(result.error?.message).toMatch(/only supported on the default stream/);
  });
});
