import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parse } from "csv-parse/sync";
import { afterAll, describe, expect, test } from "vitest";
import fc from "fast-check";
import {
  copyTextRowField,
  csvRowField,
  spoolBatches,
  unescapeCopyText,
  type SpooledBatch,
} from "../../../src/connectors/batch-spooler.js";
import { copyTextHostileText, escapeCopyText } from "../../support/copy-text.js";

const dirs: string[] = [];
function newDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "spool-test-"));
  dirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

/**
 * Rows with the awkward bits COPY's CSV can hold, quoted as COPY quotes them (only fields that
 * need it): quotes, commas and newlines inside fields, and long runs of rows with no quote.
 */
function makeCsv(rows: number, quote = '"'): { text: string; fields: string[][] } {
  const fields: string[][] = [];
  let text = "";
  for (let i = 0; i < rows; i++) {
    const body =
      i % 7 === 0 ? `line\nbreak "${i}", done ${quote}` : i % 11 === 0 ? `{"json": ${i}}` : `plain ${i}`;
    const row = [String(i), body, i % 5 === 0 ? "" : "x"];
    fields.push(row);
    const needsQuotes = (f: string) => f === "" || f.includes(quote) || /[,\n]/.test(f);
    text +=
      row
        .map((f) => (needsQuotes(f) ? `${quote}${f.replaceAll(quote, quote + quote)}${quote}` : f))
        .join(",") + "\n";
  }
  return { text, fields };
}

async function* chunked(text: string, size: number): AsyncGenerator<Buffer> {
  const bytes = Buffer.from(text);
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

async function spool(
  text: string,
  chunkSize: number,
  maxBytes: number,
  maxRows = 1_000_000,
  quote?: string,
  format?: "copy-text",
): Promise<SpooledBatch[]> {
  const dir = newDir();
  let next = 0;
  const batches: SpooledBatch[] = [];
  for await (const b of spoolBatches(chunked(text, chunkSize), {
    dir,
    streamId: "public-t",
    columns: ["id", "body", "flag"],
    maxBytes,
    maxRows,
    ...(quote !== undefined ? { quote } : {}),
    ...(format !== undefined ? { format } : {}),
    allocateSequence: (rows) => {
      const base = next;
      next += rows;
      return base;
    },
  })) {
    batches.push(b);
  }
  return batches;
}

describe("spoolBatches", () => {
  test.each([
    [1, '"'],
    [7, '"'],
    [64, '"'],
    [4096, '"'],
    [1, "\x01"],
    [5, "\x01"],
    [64, "\x01"],
    [4096, "\x01"],
  ])("cuts on row boundaries whatever the chunking (chunks of %i bytes, quote %j)", async (chunk, quote) => {
    const { text, fields } = makeCsv(500, quote);
    const batches = await spool(text, chunk, 2000, 1_000_000, quote === '"' ? undefined : quote);
    expect(batches.length).toBeGreaterThan(3);
    const all: string[][] = [];
    for (const { batch, lastRow } of batches) {
      const content = fs.readFileSync(batch.path, "utf8");
      const rows = parse(content, { quote, escape: quote }) as string[][];
      expect(rows).toHaveLength(batch.rowCount);
      expect(batch.byteCount).toBe(Buffer.byteLength(content));
      // The last row handed back for bookmarks is the file's last row.
      expect(parse(lastRow, { quote, escape: quote }) as string[][]).toEqual([rows[rows.length - 1]]);
      expect(batch.maxRowBytes).toBe(
        Math.max(...content.split(/\n(?=\d+,)/).map((r) => Buffer.byteLength(r.replace(/\n$/, "")))),
      );
      all.push(...rows);
    }
    expect(all).toEqual(fields);
    // _sdc_sequence bases follow each other with no overlap.
    batches.reduce((expected, { batch }) => {
      expect(batch.sequenceBase).toBe(expected);
      return expected + batch.rowCount;
    }, 0);
  });

  // Bytes are staged in memory before a write (512 KB): batches larger than that, chunks both
  // smaller (as COPY sends them) and larger than it, must still reach the files whole and in order.
  test.each([8192, 1_500_000])(
    "batches over the write buffer's size come out whole (chunks of %i bytes)",
    async (chunk) => {
      const { text, fields } = makeCsv(150_000, "\x01");
      const batches = await spool(text, chunk, 900_000, 1_000_000, "\x01");
      expect(batches.length).toBeGreaterThan(2);
      const all: string[][] = [];
      for (const { batch } of batches) {
        const content = fs.readFileSync(batch.path);
        expect(batch.byteCount).toBe(content.length);
        const rows = parse(content, { quote: "\x01", escape: "\x01" }) as string[][];
        expect(rows).toHaveLength(batch.rowCount);
        all.push(...rows);
      }
      expect(all).toEqual(fields);
    },
  );

  test("respects the row limit", async () => {
    const { text } = makeCsv(95);
    const batches = await spool(text, 100, 1_000_000, 10);
    expect(batches.map((b) => b.batch.rowCount)).toEqual([10, 10, 10, 10, 10, 10, 10, 10, 10, 5]);
  });

  test.each([1, 3, 4096])(
    'with another quote character, `"` and newlines inside fields stay data (chunks of %i bytes)',
    async (chunk) => {
      const Q = "\x01";
      const fields = [
        ["1", '{"a": "b, c"}', 'say "hi"'],
        ["2", `two\nlines ${Q} and a quote char`, ""],
        ["3", "", "x"],
      ];
      const text =
        fields
          .map((row) => row.map((f) => (f === "" ? "" : `${Q}${f.replaceAll(Q, Q + Q)}${Q}`)).join(","))
          .join("\n") + "\n";
      const batches = await spool(text, chunk, 30, 1_000_000, Q);
      const rows = batches.flatMap(({ batch, lastRow }) => {
        expect(batch.quote).toBe(Q);
        const parsed = parse(fs.readFileSync(batch.path), { quote: Q, escape: Q }) as string[][];
        expect(parsed).toHaveLength(batch.rowCount);
        expect(parse(lastRow, { quote: Q, escape: Q })).toEqual([parsed.at(-1)]);
        return parsed;
      });
      expect(rows).toEqual(fields);
      expect(batches.length).toBeGreaterThan(1);
    },
  );

  test("spoolers of one stream running at once into one folder never share a file", async () => {
    // The parts of a split table spool at once, under one stream id and into one folder.
    const dir = newDir();
    const { text, fields } = makeCsv(200);
    const spoolPart = async (): Promise<string[][]> => {
      const rows: string[][] = [];
      for await (const { batch } of spoolBatches(chunked(text, 64), {
        dir,
        streamId: "public-t",
        columns: ["id", "body", "flag"],
        maxBytes: 1_000_000,
        maxRows: 10,
        allocateSequence: () => 0,
      })) {
        rows.push(...(parse(fs.readFileSync(batch.path)) as string[][]));
      }
      return rows;
    };
    const parts = await Promise.all([spoolPart(), spoolPart(), spoolPart()]);
    for (const rows of parts) expect(rows).toEqual(fields);
    expect(fs.readdirSync(dir)).toHaveLength(60);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test("an empty source yields no batch and leaves no file", async () => {
    const batches = await spool("", 10, 100);
    expect(batches).toEqual([]);
  });

  test("a stream that ends inside a quoted field is an error, not a short batch", async () => {
    await expect(spool('1,"unterminated\n2,x\n', 5, 1000)).rejects.toThrow(/ended inside a row/);
  });

  test("csvRowField reads one field of a row as a CSV parser does, whatever the quote character", () => {
    const { text } = makeCsv(30);
    for (const line of parse(text) as string[][]) {
      for (const [Q, encode] of [
        ['"', (f: string) => `"${f.replaceAll('"', '""')}"`],
        ["\x01", (f: string) => `\x01${f.replaceAll("\x01", "\x01\x01")}\x01`],
      ] as const) {
        const fields = [...line, `${Q}x${Q}`, "", "10 MB".repeat(3)];
        const row = Buffer.from(
          fields.map((f) => (f === "" || /[,\n"]/.test(f) || f.includes("\x01") ? encode(f) : f)).join(","),
        );
        fields.forEach((f, i) => expect(csvRowField(row, i, Q)).toBe(f));
        expect(csvRowField(row, fields.length, Q)).toBeUndefined();
      }
    }
    // An unquoted empty field (NULL) reads as empty text; a quoted one that never ends, as nothing.
    expect(csvRowField(Buffer.from("1,,3"), 1)).toBe("");
    expect(csvRowField(Buffer.from('1,"open'), 1)).toBeUndefined();
  });

  test.each([1, 7, 4096])(
    "COPY text: every newline ends a row; quotes are data (chunks of %i bytes)",
    async (chunk) => {
      const fields = Array.from({ length: 200 }, (_, i) => [
        String(i),
        i % 3 === 0 ? `say "hi", \x01 ${i}` : `plain ${i}`,
        i % 5 === 0 ? "\\N" : "x",
      ]);
      const text = fields.map((row) => row.map((f) => escapeCopyText(f)).join("\t")).join("\n") + "\n";
      const batches = await spool(text, chunk, 500, 1_000_000, undefined, "copy-text");
      expect(batches.length).toBeGreaterThan(3);
      const rows = batches.flatMap(({ batch, lastRow }) => {
        expect(batch.format).toBe("copy-text");
        expect(batch.quote).toBeUndefined();
        const lines = fs.readFileSync(batch.path, "utf8").split("\n").slice(0, -1);
        expect(lines).toHaveLength(batch.rowCount);
        expect(lastRow.toString()).toBe(lines.at(-1));
        return lines.map((line) => line.split("\t").map(unescapeCopyText));
      });
      expect(rows).toEqual(fields);
    },
  );

  test("copyTextRowField reads one field of a COPY text row, unescaped; NULL reads as nothing", () => {
    const row = Buffer.from(["7", "a\\tb\\\\c\\n", "\\N", "", '"q"', "\\\\N"].join("\t"));
    expect([0, 1, 2, 3, 4, 5, 6].map((i) => copyTextRowField(row, i))).toEqual([
      "7",
      "a\tb\\c\n",
      undefined,
      "",
      '"q"',
      "\\N",
      undefined,
    ]);
  });

  test("unescapeCopyText undoes PostgreSQL's COPY text escaping of any text", () => {
    fc.assert(
      fc.property(copyTextHostileText(20), (text) => {
        expect(unescapeCopyText(escapeCopyText(text))).toBe(text);
      }),
    );
  });
});
