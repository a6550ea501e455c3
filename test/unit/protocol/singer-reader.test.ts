import { describe, expect, test } from "vitest";
import { DataError } from "../../../src/errors.js";
import {
  JsonArray,
  JsonObject,
  parseExactJson,
  sourceOf,
  stringifyExact,
  toPlain,
  type JsonNumber,
} from "../../../src/protocol/exact-json.js";
import { readSingerMessages, type ReadMessage } from "../../../src/protocol/singer-reader.js";
import { formatRecordMessage, formatStateMessage } from "../../../src/protocol/singer-messages.js";

/** Yields `text` as Buffers of `size` bytes, splitting lines and UTF-8 characters anywhere. */
async function* chunks(text: string, size = 7): AsyncGenerator<Buffer> {
  const bytes = Buffer.from(text, "utf8");
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

async function readAll(
  text: string,
  options: { size?: number; warn?: (m: string) => void } = {},
): Promise<ReadMessage[]> {
  const out: ReadMessage[] = [];
  for await (const m of readSingerMessages(chunks(text, options.size), {
    pluginName: "tap-test",
    ...(options.warn ? { warn: options.warn } : {}),
  })) {
    out.push(m);
  }
  return out;
}

const schemaLine = JSON.stringify({
  type: "SCHEMA",
  stream: "s",
  schema: { properties: { id: { type: "integer" } } },
  key_properties: ["id"],
});

describe("reading Singer messages", () => {
  test("numbers beyond double precision keep their exact text", async () => {
    const line =
      '{"type":"RECORD","stream":"s","record":{"big":123456789012345678901234567890.123456789012345678,"i":9007199254740993,"e":1.5E+300,"nested":{"n":[0.1000000000000000000001]}}}';
    const [read] = await readAll(`${line}\n`);
    expect(read!.message.type).toBe("RECORD");
    if (read!.message.type !== "RECORD") return;
    const record = read!.message.record;
    expect((record.get("big") as JsonNumber).text).toBe("123456789012345678901234567890.123456789012345678");
    expect((record.get("i") as JsonNumber).text).toBe("9007199254740993");
    expect((record.get("e") as JsonNumber).text).toBe("1.5E+300");
    // The nested document is kept exactly as it was written.
    expect(sourceOf(record.get("nested")!)).toBe('{"n":[0.1000000000000000000001]}');
  });

  test("a line of several MB split into small chunks is read whole", async () => {
    const big = "x".repeat(5 * 1024 * 1024) + "é€😀";
    const line = formatRecordMessage({ stream: "s", recordJson: JSON.stringify({ id: 1, blob: big }) });
    const messages = await readAll(`${schemaLine}\n${line}\n`, { size: 64 * 1024 + 3 });
    expect(messages).toHaveLength(2);
    const record = messages[1]!.message;
    expect(record.type === "RECORD" && record.record.get("blob")).toBe(big);
    expect(messages[1]!.line).toBe(2);
  });

  test("unicode split across chunks, escapes and surrogate pairs decode", async () => {
    const line =
      '{"type":"RECORD","stream":"s","record":{"t":"café ☃ 😀 \\u00e9\\ud83d\\ude00 \\"q\\" \\n"}}';
    for (const size of [1, 2, 3, 5]) {
      const [read] = await readAll(`${line}\r\n`, { size });
      expect(read!.message.type === "RECORD" && read!.message.record.get("t")).toBe('café ☃ 😀 é😀 "q" \n');
    }
  });

  test("a malformed line names the plugin, the line number and shows an excerpt", async () => {
    const text = `${schemaLine}\n\n{"type":"RECORD","stream":"s","record":{"id":1,}}\n${schemaLine}\n`;
    const error = await readAll(text).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DataError);
    expect((error as Error).message).toMatch(/^tap-test: line 3 is not valid JSON \(.*\): .*"id":1,}}/);
  });

  test("a line that is JSON but not a message is an error too", async () => {
    const error = await readAll(`${schemaLine}\n{"type":"RECORD","stream":"s"}\n`).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(
      /tap-test: line 2 is not a Singer message \(RECORD needs an object "record"\)/,
    );
    const truncated = await readAll(`${schemaLine}\n{"type":"STATE","value":{"a":`).catch((e: unknown) => e);
    expect((truncated as Error).message).toMatch(/tap-test: line 2 is not valid JSON/);
  });

  test("unknown message types are skipped with one warning per type", async () => {
    const warnings: string[] = [];
    const text = [
      schemaLine,
      '{"type":"LOG","message":"hi"}',
      '{"type":"LOG","message":"again"}',
      formatStateMessage({ bookmarks: {} }),
    ].join("\n");
    const messages = await readAll(text, { warn: (m) => warnings.push(m) });
    expect(messages.map((m) => m.message.type)).toEqual(["SCHEMA", "STATE"]);
    expect(messages[1]!.line).toBe(4);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('tap-test: line 2: unknown message type "LOG"');
  });

  test("STATE values and RECORD lines round-trip exactly", async () => {
    const state = '{"bookmarks":{"s":{"replication_key_value":18446744073709551617,"lsn":1e400}}}';
    const [read] = await readAll(`{"type":"STATE","value":${state}}\n`);
    expect(read!.message.type === "STATE" && sourceOf(read!.message.value)).toBe(state);
    expect(formatStateMessage(read!.message.type === "STATE" ? read!.message.value : null)).toBe(
      `{"type":"STATE","value":${state}}`,
    );
  });
});

describe("the exact JSON parser", () => {
  test("agrees with JSON.parse on ordinary documents", () => {
    const doc = '{"a":[1,-2.5e3,true,false,null,"x\\ty"],"b":{},"c":[],"__proto__":{"p":1}}';
    const value = parseExactJson(doc);
    expect(value).toBeInstanceOf(JsonObject);
    expect(stringifyExact(value)).toBe(doc);
    expect((value as JsonObject).get("c")).toBeInstanceOf(JsonArray);
  });

  test("toPlain keeps the digits a double would lose when asked to", () => {
    const value = parseExactJson('{"k":9007199254740993,"s":42,"d":0.1,"long":3.14159265358979323846}');
    expect(toPlain(value, { keepDigits: true })).toEqual({
      k: "9007199254740993",
      s: 42,
      d: 0.1,
      long: "3.14159265358979323846",
    });
    expect(toPlain(value)).toMatchObject({ k: 9007199254740992, s: 42 });
  });

  test("a document nested too deeply is a syntax error, not a stack overflow", () => {
    expect(() => parseExactJson("[".repeat(100_000) + "]".repeat(100_000))).toThrow(/nested more than 1000/);
  });

  test("refuses what JSON refuses", () => {
    for (const bad of ["{'a':1}", "[1,]", "01", "1.", '"a\nb"', "[1] x", "tru", '{"a" 1}', "-", "NaN"]) {
      expect(() => parseExactJson(bad), bad).toThrow();
      expect(() => JSON.parse(bad), bad).toThrow();
    }
  });
});
