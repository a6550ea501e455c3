import { parseArgs } from "node:util";
import { Output, type LogFormat } from "sluice/dist/cli/output.js";
import { runDemo } from "./run-demo.js";

/**
 * `npm run demo` runs this file. The demo is not part of the product's package (it needs the
 * embedded PostgreSQL's binaries, about 60 MB), so it is not a `sluice` command. Exit codes as
 * sluice's: 0 done, 1 the demo failed, 2 a usage mistake.
 */
const USAGE = `Usage: npm run demo [-- options]

Starts an embedded PostgreSQL with sample data, loads it into DuckDB, changes it, loads again.

Options:
  --dir <dir>             folder for the demo project and DuckDB file (default: sluice-demo)
  --events <n>            event rows to generate (default: 100000)
  --accounts <n>          account rows to generate (default: 5000)
  --log-format <format>   text or json (default: text, even when piped: a person reads it)
  -h, --help              this text
`;

function parseOptions(argv: string[]) {
  return parseArgs({
    args: argv,
    options: {
      dir: { type: "string", default: "sluice-demo" },
      events: { type: "string", default: "100000" },
      accounts: { type: "string", default: "5000" },
      "log-format": { type: "string", default: "text" },
      help: { type: "boolean", short: "h", default: false },
    },
  }).values;
}

const LOG_FORMATS: readonly LogFormat[] = ["text", "json"];

async function main(argv: string[]): Promise<number> {
  let values: ReturnType<typeof parseOptions>;
  try {
    values = parseOptions(argv);
  } catch (error) {
    process.stderr.write(`error: ${messageOf(error)}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const format = LOG_FORMATS.find((f) => f === values["log-format"]);
  const problems = [
    ...(format ? [] : [`--log-format: expected text or json, got "${values["log-format"]}"`]),
    ...wholeNumberProblems({ "--events": values.events, "--accounts": values.accounts }),
  ];
  if (!format || problems.length > 0) {
    process.stderr.write(`${problems.map((p) => `error: ${p}\n`).join("")}\n${USAGE}`);
    return 2;
  }
  const output = new Output({ format });
  try {
    await runDemo({
      dir: values.dir,
      events: Number(values.events),
      accounts: Number(values.accounts),
      output,
    });
    return 0;
  } catch (error) {
    // The message says what went wrong and what to do; the stack only on request, as sluice does.
    const fields: Record<string, unknown> = { error: error instanceof Error ? error.name : "Error" };
    if (process.env.SLUICE_DEBUG && error instanceof Error && error.stack) fields.stack = error.stack;
    output.error(messageOf(error), fields);
    return 1;
  }
}

function wholeNumberProblems(options: Record<string, string>): string[] {
  return Object.entries(options)
    .filter(([, value]) => !/^\d+$/.test(value) || Number(value) < 1)
    .map(([name, value]) => `${name}: expected a whole number >= 1, got "${value}"`);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

process.exitCode = await main(process.argv.slice(2));
