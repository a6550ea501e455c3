import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  connectPostgres,
  describePrivilegeError,
  readPrivilegeProblems,
  type PostgresConnectionSettings,
} from "../../../src/connectors/tap-postgres/postgres-connection.js";
import { PostgresExtractor } from "../../../src/connectors/tap-postgres/postgres-extractor.js";
import { createTestDatabase, type TestDatabase } from "../../support/pg.js";
import { duckdbRows, runToDuckdb, selectStreams, tapConfig, tempDir } from "../../support/pipeline.js";

/**
 * The privileges docs/security.md lists, granted to roles that have nothing else, are enough for
 * each replication method; a missing one is named with the GRANT that adds it. The extractor's
 * connections refuse writes even for a role that may write.
 */

const tag = `${process.pid}_${Math.random().toString(36).slice(2, 6)}`;
const READER = `lp_reader_${tag}`;
const CDC = `lp_cdc_${tag}`;
const OWNER = `lp_owner_${tag}`;
const PASSWORD = "least-Privilege-pw";
let db: TestDatabase;
let workDir: string;

beforeAll(async () => {
  db = await createTestDatabase("least_priv");
  workDir = tempDir("sluice-least-priv-");
  // NOTE: CONNECT is revoked from PUBLIC so that the roles' own grant is what lets them in.
  await db.query(`
    REVOKE ALL ON DATABASE ${db.name} FROM PUBLIC;
    CREATE ROLE ${READER} LOGIN PASSWORD '${PASSWORD}';
    CREATE ROLE ${CDC} LOGIN REPLICATION PASSWORD '${PASSWORD}';
    CREATE ROLE ${OWNER} LOGIN REPLICATION PASSWORD '${PASSWORD}';
    CREATE SCHEMA app;
    CREATE TABLE app.accounts (id integer PRIMARY KEY, email text NOT NULL, updated_at timestamptz NOT NULL);
    INSERT INTO app.accounts SELECT g, 'user' || g || '@example.com', '2026-01-01'::timestamptz + g * interval '1 minute'
      FROM generate_series(1, 100) g;
    CREATE TABLE app.events (id bigint PRIMARY KEY, kind text);
    INSERT INTO app.events SELECT g, 'kind' || (g % 3) FROM generate_series(1, 50) g;
    CREATE TABLE app.payroll (id integer PRIMARY KEY, salary numeric(10,2));
    INSERT INTO app.payroll VALUES (1, 1000.00);
    CREATE TABLE app.owned_events (id bigint PRIMARY KEY, kind text);
    INSERT INTO app.owned_events SELECT g, 'k' FROM generate_series(1, 20) g;

    -- FULL_TABLE and INCREMENTAL: CONNECT, USAGE on the schema, SELECT on the tables.
    GRANT CONNECT ON DATABASE ${db.name} TO ${READER}, ${CDC}, ${OWNER};
    GRANT USAGE ON SCHEMA app TO ${READER}, ${CDC}, ${OWNER};
    GRANT SELECT ON app.accounts, app.events TO ${READER};
    -- LOG_BASED with a publication an admin made: REPLICATION and SELECT.
    GRANT SELECT ON app.events TO ${CDC};
    CREATE PUBLICATION lp_events_pub FOR TABLE app.events;
    -- LOG_BASED with a publication sluice manages: REPLICATION, CREATE on the database, ownership.
    ALTER TABLE app.owned_events OWNER TO ${OWNER};
    GRANT CREATE ON DATABASE ${db.name} TO ${OWNER};
    -- A table the reader may SELECT in a schema it may not use.
    CREATE SCHEMA closed;
    CREATE TABLE closed.t (id int);
    GRANT SELECT ON closed.t TO ${READER};`);
});

afterAll(async () => {
  if (!db) return;
  for (const [role, slot] of [
    [CDC, "lp_cdc_slot"],
    [OWNER, "lp_owner_slot"],
  ] as const) {
    await new PostgresExtractor(as(role, { logical_slot_name: slot }))
      .teardownChangeCapture()
      .catch(() => []);
  }
  await db.query(`DROP OWNED BY ${READER}, ${CDC}, ${OWNER}; DROP ROLE ${READER}, ${CDC}, ${OWNER}`);
  await db.drop();
});

function as(role: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return tapConfig(db, { user: role, password: PASSWORD, logical_poll_total_seconds: 1, ...extra });
}

function run(role: string, name: string, streams: Record<string, Record<string, unknown>>, tap = {}) {
  return runToDuckdb({
    db: { ...db, user: role, password: PASSWORD },
    workDir: path.join(workDir, name),
    streams,
    tap: { logical_poll_total_seconds: 1, ...tap },
  });
}

async function count(name: string, table: string): Promise<string | null | undefined> {
  const rows = await duckdbRows(
    path.join(workDir, name, "warehouse.duckdb"),
    `SELECT count(*) AS n FROM app.${table}`,
  );
  return rows[0]?.n;
}

describe("a role with only the documented privileges", () => {
  test("FULL_TABLE and INCREMENTAL: CONNECT, USAGE on the schema, SELECT on the tables", async () => {
    const summary = await run(READER, "reader", {
      "app-accounts": { "replication-method": "INCREMENTAL", "replication-key": "updated_at" },
      "app-events": { "replication-method": "FULL_TABLE" },
    });
    expect(summary.status).toBe("success");
    expect(await count("reader", "accounts")).toBe("100");
    expect(await count("reader", "events")).toBe("50");
    await db.query("INSERT INTO app.accounts VALUES (101, 'new@example.com', '2026-02-01')");
    const incremental = { "replication-method": "INCREMENTAL", "replication-key": "updated_at" };
    expect((await run(READER, "reader", { "app-accounts": incremental })).status).toBe("success");
    expect(await count("reader", "accounts")).toBe("101");
  });

  test("LOG_BASED: REPLICATION and SELECT, with a publication an admin created (logical_publication)", async () => {
    const tap = { logical_publication: "lp_events_pub", logical_slot_name: "lp_cdc_slot" };
    const streams = { "app-events": { "replication-method": "LOG_BASED" } };
    const extractor = new PostgresExtractor(as(CDC, tap));
    const plans = await extractor.plan(selectStreams(await extractor.discover(), streams));
    await extractor.test(plans);
    expect((await run(CDC, "cdc", streams, tap)).status).toBe("success");
    await db.query("INSERT INTO app.events VALUES (51, 'late'); DELETE FROM app.events WHERE id = 1");
    expect((await run(CDC, "cdc", streams, tap)).status).toBe("success");
    const rows = await duckdbRows(
      path.join(workDir, "cdc", "warehouse.duckdb"),
      "SELECT count(*) FILTER (WHERE _sdc_deleted_at IS NULL) AS live, max(id) AS last FROM app.events",
    );
    expect(rows).toEqual([{ live: "50", last: "51" }]);
  });

  test("LOG_BASED: REPLICATION, CREATE on the database and table ownership, with the publication sluice manages", async () => {
    const tap = { logical_slot_name: "lp_owner_slot" };
    const streams = { "app-owned_events": { "replication-method": "LOG_BASED" } };
    expect((await run(OWNER, "owner", streams, tap)).status).toBe("success");
    await db.query("UPDATE app.owned_events SET kind = 'changed' WHERE id <= 5");
    expect((await run(OWNER, "owner", streams, tap)).status).toBe("success");
    const rows = await duckdbRows(
      path.join(workDir, "owner", "warehouse.duckdb"),
      "SELECT count(*) FILTER (WHERE kind = 'changed') AS changed FROM app.owned_events",
    );
    expect(rows).toEqual([{ changed: "5" }]);
  });
});

describe("a missing privilege is named with the GRANT that adds it", () => {
  test("reading a table without SELECT: the server's refusal becomes a message naming the table and the GRANT", async () => {
    const client = await connectPostgres(as(READER) as unknown as PostgresConnectionSettings);
    let refused: unknown;
    try {
      await client.query("COPY (SELECT id, salary FROM app.payroll) TO STDOUT");
    } catch (error) {
      refused = error;
    } finally {
      await client.end();
    }
    const message = describePrivilegeError(
      refused,
      { schemaName: "app", tableName: "payroll" },
      READER,
    )?.message;
    expect(message).toBe(
      `user "${READER}" may not read app.payroll (permission denied for table payroll): run GRANT SELECT ON "app"."payroll" TO "${READER}"; or deselect stream app-payroll`,
    );
  });

  test("the checks before a run list each table that cannot be read, with USAGE when the schema is closed", async () => {
    const client = await connectPostgres(as(READER) as unknown as PostgresConnectionSettings);
    try {
      const tables = ["app.accounts", "app.payroll", "closed.t", "app.no_such_table"].map((name) => {
        const [schemaName, tableName] = name.split(".") as [string, string];
        return { schemaName, tableName };
      });
      expect(await readPrivilegeProblems(client, READER, tables)).toEqual([
        `user "${READER}" may not read app.payroll (no SELECT): run GRANT SELECT ON "app"."payroll" TO "${READER}"; or deselect stream app-payroll`,
        `user "${READER}" may not read closed.t (no USAGE on schema closed): run GRANT USAGE ON SCHEMA "closed" TO "${READER}"; or deselect stream closed-t`,
      ]);
    } finally {
      await client.end();
    }
  });

  test("sluice test for LOG_BASED without ownership names the publication to create and logical_publication", async () => {
    const streams = { "app-events": { "replication-method": "LOG_BASED" } };
    const extractor = new PostgresExtractor(as(CDC, { logical_slot_name: "lp_cdc_slot" }));
    const plans = await extractor.plan(selectStreams(await extractor.discover(), streams));
    const error = await extractor.test(plans).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error?.message).toContain(
      `sluice manages publication "lp_cdc_slot_pub" for LOG_BASED tables, which needs CREATE on database ${db.name} and ownership of app.events for user "${CDC}"; instead, an admin can run CREATE PUBLICATION "lp_cdc_slot_pub" FOR TABLE "app"."events"`,
    );
    expect(error?.message).toContain("and set logical_publication: lp_cdc_slot_pub");
  });
});

describe("the extractor's connections are read-only", () => {
  test("a write through one is refused even for a superuser; CDC's own connection may write", async () => {
    const settings = tapConfig(db) as unknown as PostgresConnectionSettings;
    const client = await connectPostgres(settings, "sluice extract");
    try {
      expect((await client.query("SHOW default_transaction_read_only")).rows).toEqual([
        { default_transaction_read_only: "on" },
      ]);
      for (const sql of ["INSERT INTO app.events VALUES (999, 'x')", "CREATE TABLE app.intruder (id int)"]) {
        await expect(client.query(sql)).rejects.toMatchObject({
          code: "25006",
          message: expect.stringContaining("read-only transaction") as unknown,
        });
      }
    } finally {
      await client.end();
    }
    const control = await connectPostgres(settings, "sluice cdc control", { readOnly: false });
    try {
      expect((await control.query("SHOW default_transaction_read_only")).rows).toEqual([
        { default_transaction_read_only: "off" },
      ]);
    } finally {
      await control.end();
    }
    const check = new pg.Client({ connectionString: db.url });
    await check.connect();
    try {
      expect((await check.query("SELECT count(*)::int AS n FROM app.events WHERE id = 999")).rows).toEqual([
        { n: 0 },
      ]);
    } finally {
      await check.end();
    }
  });
});
