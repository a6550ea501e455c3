import { describe, expect, test } from "vitest";
import { PipelineError } from "../../../src/errors.js";
import { decodePgOutput } from "../../../src/connectors/tap-postgres/cdc/pgoutput-decoder.js";

/** Messages a correctly set up slot never sends must stop the run with a message that says why. */
describe("pgoutput messages sluice does not accept", () => {
  test("a streamed transaction says streaming should be off", () => {
    const streamStart = Buffer.from([0x53, 0, 0, 0, 42, 1]); // 'S', xid 42, first segment
    expect(() => decodePgOutput(streamStart)).toThrow(PipelineError);
    expect(() => decodePgOutput(streamStart)).toThrow(
      /Stream Start message \('S'\).*streaming and two_phase off/,
    );
  });

  test("a prepared transaction says two_phase should be off", () => {
    expect(() => decodePgOutput(Buffer.from("b"))).toThrow(/Begin Prepare message/);
  });

  test("a cut message says where it ended", () => {
    const begin = Buffer.alloc(21);
    begin.write("B");
    expect(decodePgOutput(begin)).toEqual({ type: "begin", finalLsn: 0n, commitTime: 0n, xid: 0 });
    expect(() => decodePgOutput(begin.subarray(0, 12))).toThrow(
      /malformed pgoutput message 'B' \(12 bytes\): 8 more bytes expected at byte 9/,
    );
  });

  test("an unknown tag or tuple kind is named", () => {
    expect(() => decodePgOutput(Buffer.from("Z"))).toThrow(/unknown message type 'Z'/);
    const insert = Buffer.from([0x49, 0, 0, 0, 1, 0x4e, 0, 1, 0x78]); // 'I', relation 1, 'N', 1 field of kind 'x'
    expect(() => decodePgOutput(insert)).toThrow(/unknown tuple field kind 'x'/);
  });

  test("LSNs past 2^63 stay unsigned", () => {
    const commit = Buffer.alloc(26);
    commit.write("C");
    commit.writeBigUInt64BE(0xfffffffffffffff0n, 2);
    commit.writeBigUInt64BE(0xfffffffffffffff8n, 10);
    expect(decodePgOutput(commit)).toMatchObject({
      commitLsn: 0xfffffffffffffff0n,
      endLsn: 0xfffffffffffffff8n,
    });
  });
});
