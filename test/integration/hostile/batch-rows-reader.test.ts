import fs from "node:fs";
import path from "node:path";
import { parse as csvParse } from "csv-parse";
import fc from "fast-check";
import { expect, test } from "vitest";
import { readBatchRows } from "../../../src/connectors/batch-rows.js";
import { tempDir } from "../../support/pipeline.js";
import { propertyRuns } from "./property-runs.js";

/** A field as PostgreSQL's COPY ... CSV writes it: NULL unquoted and empty, quotes where needed. */
function csvField(value: string | null, quote = '"'): string {
  if (value === null) return "";
  if (quote !== '"') {
    return value === "" || /[,\n\r]/.test(value) || value.includes(quote)
      ? `${quote}${value.replaceAll(quote, quote + quote)}${quote}`
      : value;
  }
  return value === "" || /[",\n\r]/.test(value) || value.startsWith("\\.")
    ? `"${value.replaceAll('"', '""')}"`
    : value;
}

const fieldText = fc.string({
  unit: fc.oneof(
    fc.constantFrom('"', ",", "\n", "\r", "\r\n", "\\", "\\.", "\u0001", "\u2028", "\ufeff", "🎉", "é", " "),
    fc.string({ unit: "grapheme", minLength: 1, maxLength: 3 }),
  ),
  maxLength: 40,
});

async function readAll(
  file: string,
  columns: number,
  chunkBytes: number,
  quote?: string,
): Promise<(string | null)[][]> {
  const rows: (string | null)[][] = [];
  for await (const row of readBatchRows(file, columns, { chunkBytes, quote })) rows.push(row);
  return rows;
}

test("batch files read back field for field, whatever the chunk boundaries cut through", async () => {
  const dir = tempDir("sluice-batch-rows-");
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 5 }).chain((columns) =>
        fc.tuple(
          fc.constant(columns),
          fc.array(
            fc.array(fc.option(fieldText, { nil: null }), { minLength: columns, maxLength: columns }),
            {
              maxLength: 8,
            },
          ),
          fc.integer({ min: 1, max: 64 }),
          // `"`, or the \x01 a loader may ask for (RecordBatch.quote).
          fc.constantFrom('"', "\u0001"),
        ),
      ),
      async ([columns, rows, chunkBytes, quote]) => {
        const file = path.join(dir, "batch.csv");
        fs.writeFileSync(file, rows.map((r) => r.map((v) => csvField(v, quote)).join(",") + "\n").join(""));
        expect(await readAll(file, columns, chunkBytes, quote)).toEqual(rows);
      },
    ),
    { numRuns: propertyRuns(200) },
  );
});

test("huge fields read equal to csv-parse's reading, and faster", async () => {
  const dir = tempDir("sluice-batch-rows-");
  const file = path.join(dir, "big.csv");
  // 3 MB with a quote every 8 characters (the worst case), then 3 MB of a jsonb document.
  const quotes = 'ü"\u2028,\n\\.\u0001'.repeat((3 * 1024 * 1024) / 8);
  const doc = JSON.stringify({ blob: "ü日本 text, with commas\u2028".repeat((3 * 1024 * 1024) / 26) });
  fs.writeFileSync(file, `1,${csvField(quotes)},\n2,"",x\n3,${csvField(doc)},\n`);
  const started = performance.now();
  const rows = await readAll(file, 3, 1024 * 1024);
  const ours = performance.now() - started;
  expect(rows).toEqual([
    ["1", quotes, null],
    ["2", "", "x"],
    ["3", doc, null],
  ]);
  const referenceStarted = performance.now();
  const reference: (string | null)[][] = [];
  const parser = fs
    .createReadStream(file)
    .pipe(csvParse({ cast: (value, context) => (value === "" && !context.quoting ? null : value) }));
  for await (const row of parser as AsyncIterable<(string | null)[]>) reference.push(row);
  const theirs = performance.now() - referenceStarted;
  expect(reference).toEqual(rows);
  // Measured on 2 loaded cores: ~1 s here against csv-parse's ~3 s.
  expect(ours).toBeLessThan(theirs);
});

test("a row with too few or too many fields, or a file ending inside quotes, is refused", async () => {
  const dir = tempDir("sluice-batch-rows-");
  const file = path.join(dir, "bad.csv");
  fs.writeFileSync(file, "1,2\n3\n");
  await expect(readAll(file, 2, 1024)).rejects.toThrow(/row 2 has 1 fields where the batch has 2 columns/);
  fs.writeFileSync(file, '1,"open\n');
  await expect(readAll(file, 2, 1024)).rejects.toThrow(/ends inside a quoted field/);
});
