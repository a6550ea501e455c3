import { StringDecoder } from "node:string_decoder";
import { DataError } from "../errors.js";
import { JsonSyntaxError, parseExactJson } from "./exact-json.js";
import {
  decodeSingerMessage,
  InvalidMessageError,
  UnknownMessageType,
  type SingerMessage,
} from "./singer-messages.js";

export interface SingerReaderOptions {
  /** Names the plugin whose output this is, in every message (`tap-postgres`, `stdin`). */
  pluginName: string;
  /** Told once per unknown message type; such lines are skipped. */
  warn?: (message: string) => void;
  /** A longer line is an error rather than memory without bound. Default 256 MiB. */
  maxLineChars?: number;
}

export interface ReadMessage {
  message: SingerMessage;
  /** 1-based line number in the input. */
  line: number;
  /** The line as read, so a message can be passed on unchanged (an external tap into a target). */
  text: string;
}

/**
 * Reads Singer messages from JSON lines, one line at a time: lines may be many MB long and split
 * across chunks anywhere (inside a UTF-8 character too), numbers keep their exact text, empty
 * lines are skipped, `\r\n` is accepted. A malformed line throws a DataError naming the plugin,
 * the line number and a short excerpt around the fault.
 */
export async function* readSingerMessages(
  input: AsyncIterable<Buffer | string> | Iterable<Buffer | string>,
  options: SingerReaderOptions,
): AsyncGenerator<ReadMessage, void, undefined> {
  const warned = new Set<string>();
  for await (const { text, line } of readLines(input, options)) {
    let message: SingerMessage | UnknownMessageType;
    try {
      message = decodeSingerMessage(parseExactJson(text));
    } catch (error) {
      if (error instanceof JsonSyntaxError) {
        throw new DataError(
          `${options.pluginName}: line ${line} is not valid JSON (${error.message} at character ${error.offset + 1}): ${excerpt(text, error.offset)}`,
          { cause: error },
        );
      }
      if (error instanceof InvalidMessageError) {
        throw new DataError(
          `${options.pluginName}: line ${line} is not a Singer message (${error.message}): ${excerpt(text, 0)}`,
          { cause: error },
        );
      }
      throw error;
    }
    if (message instanceof UnknownMessageType) {
      if (!warned.has(message.type)) {
        warned.add(message.type);
        options.warn?.(
          `${options.pluginName}: line ${line}: unknown message type "${message.type}" ignored (and any further ones)`,
        );
      }
      continue;
    }
    yield { message, line, text };
  }
}

/** Splits a byte or text stream into lines without joining more than one line's pieces. */
export async function* readLines(
  input: AsyncIterable<Buffer | string> | Iterable<Buffer | string>,
  options: { pluginName: string; maxLineChars?: number },
): AsyncGenerator<{ text: string; line: number }, void, undefined> {
  const max = options.maxLineChars ?? 256 * 1024 * 1024;
  const decoder = new StringDecoder("utf8");
  let pieces: string[] = [];
  let pending = 0;
  let line = 0;
  const take = (last: string): string => {
    const text = pieces.length === 0 ? last : pieces.join("") + last;
    pieces = [];
    pending = 0;
    return text.endsWith("\r") ? text.slice(0, -1) : text;
  };
  const push = (piece: string): void => {
    pending += piece.length;
    if (pending > max) {
      throw new DataError(
        `${options.pluginName}: line ${line + 1} is longer than ${max} characters: ${excerpt(pieces.join("") + piece, 0)}`,
      );
    }
    pieces.push(piece);
  };
  for await (const chunk of input) {
    const text = typeof chunk === "string" ? chunk : decoder.write(chunk);
    let start = 0;
    for (;;) {
      const end = text.indexOf("\n", start);
      if (end < 0) break;
      line += 1;
      if (pending + end - start > max) push(text.slice(start, end));
      const full = take(text.slice(start, end));
      if (full.trim() !== "") yield { text: full, line };
      start = end + 1;
    }
    if (start < text.length) push(text.slice(start));
  }
  const rest = decoder.end();
  if (rest) push(rest);
  if (pieces.length > 0) {
    line += 1;
    const full = take("");
    if (full.trim() !== "") yield { text: full, line };
  }
}

/** Up to 60 characters around `offset`, control characters escaped, so a message stays one line. */
export function excerpt(text: string, offset: number): string {
  const from = Math.max(0, offset - 30);
  const to = Math.min(text.length, from + 60);
  // eslint-disable-next-line no-control-regex
  const shown = text.slice(from, to).replace(/[\u0000-\u001f]/g, (c) => JSON.stringify(c).slice(1, -1));
  return `${from > 0 ? "…" : ""}${shown}${to < text.length ? "…" : ""}`;
}
