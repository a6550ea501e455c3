import { spawnSync } from "node:child_process";

/** Wall-clock seconds of one run of `node <args>` to its end. */
function timeNode(args: string[]): number {
  const started = process.hrtime.bigint();
  const result = spawnSync(process.execPath, args, { stdio: "ignore" });
  if (result.status !== 0) throw new Error(`node ${args.join(" ")} exited ${result.status}`);
  return Number(process.hrtime.bigint() - started) / 1e9;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/**
 * `sluice --help` beside a bare `node -e 0`, alternated in one run so both see the same machine
 * (issue goal: at most 1.7x). The medians of `runs` each; the first of each is thrown away (disk cache).
 */
export function benchStartup(cli: string, runs = 21): { help: number; node: number; ratio: number } {
  timeNode(["-e", "0"]);
  timeNode([cli, "--help"]);
  const help: number[] = [];
  const bare: number[] = [];
  for (let i = 0; i < runs; i++) {
    bare.push(timeNode(["-e", "0"]));
    help.push(timeNode([cli, "--help"]));
  }
  const result = { help: median(help), node: median(bare), ratio: median(help) / median(bare) };
  return result;
}
