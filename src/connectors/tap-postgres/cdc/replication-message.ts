/**
 * What a logical replication connection delivers once START_REPLICATION runs (the CopyBoth
 * stream of the streaming replication protocol), decoded from its framing:
 * - `data`: an XLogData message ('w'); `data` is one pgoutput message, `walStart` the WAL
 *   position it starts at, `walEnd` the server's current end of WAL.
 * - `keepalive`: a primary keepalive ('k'), or the server's answer to our status update:
 *   `walEnd` is how far the server has sent. The connection asks for one every 200 ms while no
 *   data flows, so a reader can tell an idle source from a slow one.
 *
 * Positions are LSNs as unsigned 64-bit integers. In state and `ChangeEvent.position` they
 * are written as decimal integers (pipelinewise-tap-postgres stores `lsn` as a number).
 */
export type ReplicationMessage =
  { type: "data"; walStart: bigint; walEnd: bigint; data: Buffer } | { type: "keepalive"; walEnd: bigint };

/** `16/B374D848` (PostgreSQL's text form) to a 64-bit integer. */
export function parseLsn(text: string): bigint {
  const match = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(text.trim());
  if (!match) throw new TypeError(`"${text}" is not a WAL position (like 16/B374D848)`);
  return (BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`);
}

/** A 64-bit LSN in PostgreSQL's text form, `16/B374D848`. */
export function formatLsn(lsn: bigint): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}
