import Database from "better-sqlite3";
import fs from "node:fs";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { parseDocument } from "yaml";
import { createTestDatabase, type TestDatabase } from "../support/pg.js";
import { TestProject } from "../support/test-project.js";
import { describeResult, runCli, type CliResult } from "../support/run-cli.js";

/**
 * docs/migrate-from-meltano.md, followed as a Meltano user would: its meltano.yml is written as it
 * stands, beside a `.meltano/meltano.db` holding the state its JSON block shows (Meltano's table
 * `state`, as Meltano keeps it) and a warehouse with the tables and rows pipelinewise-target-postgres
 * left (its documented type mapping: bigint, character varying, double precision, jsonb, timestamp
 * without time zone; `_sdc_*` columns), and pipelinewise-tap-postgres's slot (`test_decoding`
 * standing in for wal2json, which the test server lacks: sluice refuses any plugin but pgoutput
 * alike). Every `npx sluice` command of its `sh` blocks and every statement of its `sql` blocks
 * (on the source) runs in document order and must succeed. Then: no row lost or loaded twice, the
 * INCREMENTAL rows before the bookmark not read again, the old slot gone, and the next run continues
 * (new orders, changes through the new slot).
 */
const DOC = fileURLToPath(new URL("../../docs/migrate-from-meltano.md", import.meta.url));
const STATE_ID = "dev:tap-postgres-to-target-postgres";
/** When "Meltano" loaded the rows it loaded. */
const MELTANO_BATCHED_AT = "2024-03-01 00:31:00";

type Step = { kind: "sluice"; args: string[] } | { kind: "sql"; sql: string };

function guide(): { projectFile: string; meltanoState: string; steps: Step[] } {
  const text = fs.readFileSync(DOC, "utf8");
  const blocks = [...text.matchAll(/```(\w+)\n([\s\S]*?)```/g)].map((m) => ({ lang: m[1], body: m[2]! }));
  const yaml = blocks.find((b) => b.lang === "yaml");
  const json = blocks.find((b) => b.lang === "json");
  if (!yaml || !json) throw new Error("docs/migrate-from-meltano.md needs its yaml and json blocks");
  const steps: Step[] = [];
  for (const block of blocks) {
    if (block.lang === "sql") {
      steps.push({ kind: "sql", sql: block.body });
    } else if (block.lang === "sh") {
      for (const line of block.body.split("\n")) {
        const command = line.replace(/\s+#.*$/, "").trim();
        if (command === "") continue;
        if (!command.startsWith("npx sluice ")) throw new Error(`an sh block of the guide runs "${command}"`);
        const args = [...command.slice("npx sluice ".length).matchAll(/"([^"]*)"|(\S+)/g)].map(
          (m) => m[1] ?? m[2]!,
        );
        steps.push({ kind: "sluice", args });
      }
    }
  }
  return { projectFile: yaml.body, meltanoState: json.body, steps };
}

let source: TestDatabase;
let warehouse: TestDatabase;
let project: TestProject;
let env: Record<string, string>;
const oldSlot = (): string => `pipelinewise_${source.name}`;

beforeAll(async () => {
  source = await createTestDatabase("mg_source");
  warehouse = await createTestDatabase("mg_warehouse");
  // The source as the state says Meltano left it, and what changed since its last run.
  await source.query(`
    CREATE TABLE customers (id bigint PRIMARY KEY, name text NOT NULL, email text);
    INSERT INTO customers SELECT g, 'customer ' || g, 'c' || g || '@example.com' FROM generate_series(1, 5) g;
    CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint NOT NULL, amount double precision NOT NULL,
      updated_at timestamp NOT NULL);
    INSERT INTO orders SELECT g, 1 + g % 5, g * 2.5, timestamp '2024-03-01 00:00:00' + g * interval '1 minute'
      FROM generate_series(1, 40) g;
    CREATE TABLE events (id bigint PRIMARY KEY, kind text NOT NULL, payload jsonb);
    INSERT INTO events SELECT g, 'kind ' || g, jsonb_build_object('n', g) FROM generate_series(1, 20) g;`);
  // Since Meltano's last run: order 12 changed (its updated_at moves past the bookmark).
  await source.query(
    `UPDATE orders SET amount = 999.5, updated_at = timestamp '2024-03-01 00:45:30' WHERE id = 12`,
  );
  // pipelinewise-tap-postgres's slot (its plugin is wal2json; test_decoding stands in for it).
  await source.query(`SELECT pg_create_logical_replication_slot('${oldSlot()}', 'test_decoding')`);

  // The warehouse as pipelinewise-target-postgres made it (add_metadata_columns: true).
  const meta = `_sdc_extracted_at timestamp without time zone, _sdc_batched_at timestamp without time zone,
    _sdc_deleted_at character varying`;
  await warehouse.query(`
    CREATE SCHEMA analytics;
    CREATE TABLE analytics.customers (id bigint, name character varying, email character varying, ${meta},
      PRIMARY KEY (id));
    INSERT INTO analytics.customers SELECT g, 'customer ' || g, 'old' || g || '@example.com',
      '${MELTANO_BATCHED_AT}', '${MELTANO_BATCHED_AT}', NULL FROM generate_series(1, 4) g;
    CREATE TABLE analytics.orders (id bigint, customer_id bigint, amount double precision,
      updated_at timestamp without time zone, ${meta}, PRIMARY KEY (id));
    INSERT INTO analytics.orders SELECT g, 1 + g % 5, g * 2.5, timestamp '2024-03-01 00:00:00' + g * interval '1 minute',
      '${MELTANO_BATCHED_AT}', '${MELTANO_BATCHED_AT}', NULL FROM generate_series(1, 30) g;
    CREATE TABLE analytics.events (id bigint, kind character varying, payload jsonb, ${meta}, PRIMARY KEY (id));
    INSERT INTO analytics.events SELECT g, 'kind ' || g, jsonb_build_object('n', g),
      '${MELTANO_BATCHED_AT}', '${MELTANO_BATCHED_AT}', NULL FROM generate_series(1, 15) g;`);

  project = new TestProject({ prefix: "sluice-migration-" });
  env = {
    PG_HOST: source.host,
    PG_PORT: String(source.port),
    PG_USER: source.user,
    PG_DATABASE: source.name,
    TAP_POSTGRES_PASSWORD: source.password,
    WAREHOUSE_HOST: warehouse.host,
    WAREHOUSE_PORT: String(warehouse.port),
    WAREHOUSE_USER: warehouse.user,
    WAREHOUSE_DATABASE: warehouse.name,
    TARGET_POSTGRES_PASSWORD: warehouse.password,
  };
});

afterAll(async () => {
  project?.remove();
  await source?.query(
    `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = current_database()`,
  );
  await source?.drop();
  await warehouse?.drop();
});

/** Meltano's system database as Meltano keeps it: the table `state`, the guide's state completed. */
function writeMeltanoDatabase(meltanoState: string): void {
  fs.mkdirSync(project.file(".meltano"), { recursive: true });
  const db = new Database(project.file(".meltano/meltano.db"));
  db.exec(`CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY);
    CREATE TABLE state (state_id VARCHAR NOT NULL PRIMARY KEY, updated_at DATETIME, partial_state JSON,
      completed_state JSON);`);
  db.prepare("INSERT INTO state VALUES (?, '2024-03-01 00:31:00', '{}', ?)").run(
    STATE_ID,
    JSON.stringify(JSON.parse(meltanoState)),
  );
  db.close();
}

describe("docs/migrate-from-meltano.md", () => {
  test("every command of the guide runs in order; no row is lost or loaded twice; the next run continues", async () => {
    const { projectFile, meltanoState, steps } = guide();
    expect(steps.filter((s) => s.kind === "sluice").length).toBeGreaterThanOrEqual(12);
    expect(steps.filter((s) => s.kind === "sql").length).toBe(2);
    project.writeText(projectFile, "meltano.yml");
    writeMeltanoDatabase(meltanoState);
    // `meltano state get ... > meltano-state.json`, which the test cannot run.
    fs.writeFileSync(project.file("meltano-state.json"), meltanoState);

    const sluice = (args: string[]): Promise<CliResult> =>
      runCli(["--log-format", "text", ...args], { cwd: project.file("."), env, timeoutMs: 120_000 });
    const outputs = new Map<string, string>();
    for (const step of steps) {
      if (step.kind === "sql") {
        const rows = await source.query(step.sql);
        expect(rows, step.sql).toHaveLength(1);
        continue;
      }
      if (step.args.includes("--full-refresh")) {
        // As the guide says: before the LOG_BASED stream starts again, a run refuses the
        // position from pipelinewise's wal2json slot, and nothing moves.
        const before = project.storedState(STATE_ID);
        const refused = await sluice(["run", "tap-postgres", "target-postgres"]);
        expect(refused.code, describeResult(refused)).toBe(2);
        expect(refused.stderr).toContain(
          `replication slot "${oldSlot()}" uses the test_decoding plugin (pipelinewise-tap-postgres's, whose positions this state holds); sluice reads pgoutput, and a position of one slot means nothing in another: start public-events again in a slot of this pipeline's own with \`sluice run <extractor> <loader> --full-refresh --select public-events\``,
        );
        expect(project.storedState(STATE_ID)).toEqual(before);
        // Refused before a publication was made for that slot.
        expect(await source.query("SELECT pubname FROM pg_publication")).toEqual([]);
      }
      const result = await sluice(step.args);
      expect(result.code, `sluice ${step.args.join(" ")}\n${describeResult(result)}`).toBe(0);
      outputs.set(step.args.slice(0, 2).join(" "), result.stdout + result.stderr);
      for (const secret of [source.password, warehouse.password]) {
        expect(result.stdout + result.stderr).not.toContain(secret);
      }
    }

    // The cosmetic settings the guide names were named, once each, with why; itersize silently.
    const targetConfig = outputs.get("config target-postgres")!;
    for (const setting of ["batch_size_rows", "flush_all_streams", "parallelism", "validate_records"]) {
      const warning = `warning: plugins.loaders[0].config.${setting}: \`${setting}\` (target-postgres variant`;
      expect(targetConfig.split(warning).length - 1, setting).toBe(1);
    }
    expect(targetConfig).toContain("is accepted and changes nothing");
    expect(outputs.get("config tap-postgres")).not.toContain("warning:");
    expect(outputs.get("run tap-postgres")).toContain(
      "tap-postgres: runs the built-in tap-postgres; its pip_url is not used",
    );
    expect(outputs.get("state list")).toContain(STATE_ID);
    expect(outputs.get("state get")).toContain("2024-03-01T00:30:00+00:00");
    expect(outputs.get("cdc status")).toContain(`pipeline: ${STATE_ID}`);
    expect(outputs.get("cdc status")).toContain(
      `slot ${oldSlot()}: idle\n  pipeline: none of this project's states reads it`,
    );

    // The old slot is gone; the pipeline reads a pgoutput slot of its own, recorded in its state.
    const slots = await source.query<{ slot_name: string; plugin: string }>(
      "SELECT slot_name, plugin FROM pg_replication_slots WHERE database = current_database() ORDER BY slot_name",
    );
    expect(slots.map((s) => s.slot_name)).not.toContain(oldSlot());
    expect(slots).toHaveLength(1);
    expect(slots[0]!.plugin).toBe("pgoutput");
    expect(project.storedState(STATE_ID)?.replication_slot).toBe(slots[0]!.slot_name);

    await expectWarehouseEqualsSource();
    // INCREMENTAL continued from the bookmark: the rows before it were not read again.
    const untouched = await warehouse.query<{ n: string }>(
      `SELECT count(*) AS n FROM analytics.orders WHERE id < 30 AND id <> 12 AND _sdc_batched_at = '${MELTANO_BATCHED_AT}'`,
    );
    expect(untouched).toEqual([{ n: "28" }]);

    // The next run continues: new orders from the bookmark, changes through the new slot.
    await source.query(`
      INSERT INTO orders VALUES (41, 2, 41.5, timestamp '2024-03-02 00:00:00');
      UPDATE events SET kind = 'changed' WHERE id = 3;
      DELETE FROM events WHERE id = 4;
      INSERT INTO events VALUES (21, 'new', '{"n": 21}');`);
    const next = await sluice(["run", "shop-to-warehouse"]);
    expect(next.code, describeResult(next)).toBe(0);
    expect(next.stderr).not.toMatch(/copying the table again/);
    await expectWarehouseEqualsSource();
  }, 300_000);
});

test("the settings the guide says are refused stop the command, naming each (exit 2)", async () => {
  const meltanoYml = parseDocument(guide().projectFile);
  const refused = {
    primary_key_required: true,
    data_flattening_max_level: 2,
    schema_mapping: { public: {} },
  };
  for (const [name, value] of Object.entries(refused)) {
    meltanoYml.setIn(["plugins", "loaders", 0, "config", name], value);
  }
  const other = new TestProject({ prefix: "sluice-migration-refused-" });
  try {
    other.writeText(meltanoYml.toString(), "meltano.yml");
    const result = await other.runText(["config", "target-postgres"], { env });
    expect(result.code, describeResult(result)).toBe(2);
    for (const name of Object.keys(refused)) {
      expect(result.stderr).toContain(`plugins.loaders[0].config.${name}: \`${name}`);
    }
    expect(result.stderr.match(/\(target-postgres variant transferwise\) is not supported/g)).toHaveLength(3);
  } finally {
    other.remove();
  }
});

/** Each table of the warehouse holds the source's rows, each key once (deleted rows marked). */
async function expectWarehouseEqualsSource(): Promise<void> {
  for (const [table, columns] of [
    ["customers", "id, name, email"],
    ["orders", "id, customer_id, amount, updated_at"],
    ["events", "id, kind, payload::text"],
  ] as const) {
    const expected = await source.query(`SELECT ${columns} FROM ${table} ORDER BY id`);
    const actual = await warehouse.query(
      `SELECT ${columns} FROM analytics.${table} WHERE _sdc_deleted_at IS NULL ORDER BY id`,
    );
    expect(actual, table).toEqual(expected);
    const [keys] = await warehouse.query<{ rows: string; keys: string }>(
      `SELECT count(*) AS rows, count(DISTINCT id) AS keys FROM analytics.${table}`,
    );
    expect(keys!.rows, `${table}: a key held twice`).toBe(keys!.keys);
  }
}
