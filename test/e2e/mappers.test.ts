import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createTestDatabase, type TestDatabase } from "../support/pg.js";
import { projectSpec, TestProject, type ProjectSpec } from "../support/test-project.js";
import { describeResult, runFinished } from "../support/run-cli.js";

/**
 * `sluice run tap-postgres <mapping> target-duckdb`, as `meltano run` runs a mapper between an
 * extractor and a loader: meltano-map-transformer's stream_maps built in (hash, drop a column,
 * drop a stream, filter rows, copy a stream), under LOG_BASED too (a row that stops matching the
 * filter leaves the warehouse), and an external mapper process chained after it.
 */

const UPPER_MAPPER = fileURLToPath(new URL("../fixtures/mappers/upper-mapper.mjs", import.meta.url));
const md5 = (text: string): string => createHash("md5").update(text, "utf8").digest("hex");

let db: TestDatabase;
const projects: TestProject[] = [];

interface MapperSpec {
  name: string;
  mappings: { name: string; config: Record<string, unknown> }[];
  [key: string]: unknown;
}

const MAPPERS: { mappers: MapperSpec[] } = {
  mappers: [
    {
      name: "meltano-map-transformer",
      variant: "meltanolabs",
      pip_url: "meltano-map-transformer",
      mappings: [
        {
          name: "hash-pii",
          config: {
            stream_maps: {
              "public-customers": {
                email: "md5(email)",
                ssn: "__NULL__",
                __filter__: "country != 'XX'",
                big_spender: "amount is not None and amount >= 100",
              },
              "public-audit": "__NULL__",
              "public-orders_copy": { __source__: "public-orders" },
            },
          },
        },
        {
          name: "cdc-pii",
          config: {
            stream_maps: {
              "public-customers": {
                id: "md5(str(id))",
                email: "md5(email)",
                ssn: "__NULL__",
                __filter__: "country != 'XX'",
              },
              __else__: "__NULL__",
            },
          },
        },
        // Streams keep their names: applied to the built-in path's batches, no Singer messages.
        {
          name: "hash-pii-batches",
          config: {
            stream_maps: {
              "public-customers": {
                email: "md5(email)",
                ssn: "__NULL__",
                __filter__: "country != 'XX'",
                big_spender: "amount is not None and amount >= 100",
                doubled: "id * 2",
                amount_text: "str(amount)",
                tag: "config['tag'] + str(id)",
                key: "id",
              },
              "public-audit": { __filter__: "id < 0" },
              "public-notes": { body_md5: "md5(body)", copy: "body" },
            },
            stream_map_config: { tag: "c-" },
          },
        },
        // The same with a copy of a stream, which only the Singer path can make.
        {
          name: "hash-pii-singer",
          config: {
            stream_maps: {
              "public-customers": {
                email: "md5(email)",
                ssn: "__NULL__",
                __filter__: "country != 'XX'",
                big_spender: "amount is not None and amount >= 100",
                doubled: "id * 2",
                amount_text: "str(amount)",
                tag: "config['tag'] + str(id)",
                key: "id",
              },
              "public-audit": { __filter__: "id < 0" },
              "public-notes": { body_md5: "md5(body)", copy: "body" },
              "public-orders_copy": { __source__: "public-orders" },
            },
            stream_map_config: { tag: "c-" },
          },
        },
        {
          name: "cdc-pii-batches",
          config: {
            stream_maps: {
              "public-customers": {
                id: "md5(str(id))",
                email: "md5(email)",
                ssn: "__NULL__",
                __filter__: "country != 'XX'",
              },
            },
          },
        },
      ],
    },
    {
      name: "upper-mapper",
      executable: UPPER_MAPPER,
      config: { tag: "from-mapper" },
      mappings: [
        { name: "shout", config: { upper: ["country"] } },
        { name: "shout-dies", config: { fail_after: 1 } },
      ],
    },
  ],
};

function spec(options: Parameters<typeof projectSpec>[1] = {}): ProjectSpec {
  const base = projectSpec(db, options);
  return { ...base, plugins: { ...base.plugins, ...structuredClone(MAPPERS) } };
}

function project(options: Parameters<typeof projectSpec>[1] = {}): TestProject {
  const made = TestProject.forDatabase(db, spec(options));
  projects.push(made);
  return made;
}

beforeAll(async () => {
  db = await createTestDatabase("e2e_mappers");
  await db.query(`
    CREATE TABLE customers (id integer PRIMARY KEY, email text, ssn text, country text, amount numeric(12,2));
    INSERT INTO customers VALUES
      (1, 'ada@example.com', '111', 'FR', 250.00),
      (2, 'bob@example.com', '222', 'XX', 10.00),
      (3, NULL, '333', NULL, NULL),
      (4, 'cyd@example.com', '444', 'de', 99.99);
    CREATE TABLE audit (id integer PRIMARY KEY, what text);
    INSERT INTO audit VALUES (1, 'login');
    CREATE TABLE orders (id integer PRIMARY KEY, total numeric(14,2));
    INSERT INTO orders VALUES (10, 1.50), (11, 12345678901.25);`);
});

afterAll(async () => {
  for (const made of projects) made.remove();
  await db?.drop();
});

describe("sluice run tap-postgres <mapping> target-duckdb", () => {
  test("stream maps run built in: hashed, dropped, filtered, copied, value by value", async () => {
    const made = project();
    const result = await made.run([
      "--log-format",
      "json",
      "run",
      "tap-postgres",
      "hash-pii",
      "target-duckdb",
    ]);
    expect(result.code, describeResult(result)).toBe(0);
    expect(
      await made.duckdb(
        "SELECT id, email, country, amount::VARCHAR AS amount, big_spender FROM public.customers ORDER BY id",
      ),
    ).toEqual([
      { id: 1, email: md5("ada@example.com"), country: "FR", amount: "250.00", big_spender: true },
      { id: 3, email: null, country: null, amount: null, big_spender: false },
      { id: 4, email: md5("cyd@example.com"), country: "de", amount: "99.99", big_spender: false },
    ]);
    const columns = await made.duckdb(
      "SELECT column_name FROM information_schema.columns WHERE table_name = 'customers' AND column_name NOT LIKE '\\_sdc%' ESCAPE '\\' ORDER BY column_name",
    );
    expect(columns.map((c) => c.column_name)).toEqual(["amount", "big_spender", "country", "email", "id"]);
    const tables = await made.duckdb("SELECT table_name FROM information_schema.tables ORDER BY table_name");
    expect(tables.map((t) => t.table_name)).toEqual(["customers", "orders", "orders_copy"]);
    for (const table of ["orders", "orders_copy"]) {
      expect(
        await made.duckdb(`SELECT id, total::VARCHAR AS total FROM public.${table} ORDER BY id`),
      ).toEqual([
        { id: 10, total: "1.50" },
        { id: 11, total: "12345678901.25" },
      ]);
    }
    // Rows are counted as they leave the tap: the mapping filtered one of the four.
    expect(runFinished(result.stderr).streams["public-customers"]!.rows).toBe(4);
  });

  test("mappings that keep stream names apply to batches: the Singer path's values and types", async () => {
    const load = async (mapping: string) => {
      const made = project({
        select: ["public-customers", "public-orders", "public-audit", "public-notes"],
      });
      const result = await made.run([
        "--log-format",
        "json",
        "run",
        "tap-postgres",
        mapping,
        "target-duckdb",
      ]);
      expect(result.code, describeResult(result)).toBe(0);
      const rows = await made.duckdb(
        "SELECT id, email, country, amount::VARCHAR AS amount, big_spender, doubled::VARCHAR AS doubled, amount_text, tag, key FROM public.customers ORDER BY id",
      );
      const types = await made.duckdb(
        "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns WHERE table_name IN ('customers', 'orders', 'audit') AND column_name NOT LIKE '\\_sdc%' ESCAPE '\\' ORDER BY table_name, column_name",
      );
      const orders = await made.duckdb("SELECT id, total::VARCHAR AS total FROM public.orders ORDER BY id");
      // The filter keeps no row of audit: its batch is left empty, the table still made (and empty).
      const audit = await made.duckdb("SELECT count(*)::INTEGER AS n FROM public.audit");
      const notes = await made.duckdb("SELECT id, body, body_md5, copy FROM public.notes ORDER BY id");
      return { rows, types, orders, audit, notes, finished: runFinished(result.stderr) };
    };
    // Text that CSV must quote, copied and computed on the way.
    const bodies = ["a,b", 'say "hi"', "two\nlines", "", null, "\u0001x"];
    await db.query(`CREATE TABLE notes (id integer PRIMARY KEY, body text)`);
    for (const [i, body] of bodies.entries()) {
      await db.query("INSERT INTO notes VALUES ($1, $2)", [i + 1, body]);
    }
    let batches, singer;
    try {
      batches = await load("hash-pii-batches");
      singer = await load("hash-pii-singer");
    } finally {
      await db.query("DROP TABLE notes");
    }
    expect(batches.notes).toEqual(
      bodies.map((body, i) => ({ id: i + 1, body, body_md5: body === null ? null : md5(body), copy: body })),
    );
    expect(batches.notes).toEqual(singer.notes);
    expect(batches.rows).toEqual([
      {
        id: 1,
        email: md5("ada@example.com"),
        country: "FR",
        amount: "250.00",
        big_spender: true,
        doubled: "2",
        amount_text: "250.0",
        tag: "c-1",
        key: 1,
      },
      {
        id: 3,
        email: null,
        country: null,
        amount: null,
        big_spender: false,
        doubled: "6",
        amount_text: "None",
        tag: "c-3",
        key: 3,
      },
      {
        id: 4,
        email: md5("cyd@example.com"),
        country: "de",
        amount: "99.99",
        big_spender: false,
        doubled: "8",
        amount_text: "99.99",
        tag: "c-4",
        key: 4,
      },
    ]);
    expect(batches.rows).toEqual(singer.rows);
    expect(batches.types).toEqual(singer.types);
    expect(batches.types.map((t) => t.column_name)).not.toContain("ssn");
    expect(batches.orders).toEqual([
      { id: 10, total: "1.50" },
      { id: 11, total: "12345678901.25" },
    ]);
    expect(batches.orders).toEqual(singer.orders);
    expect(batches.audit).toEqual([{ n: 0 }]);
    expect(singer.audit).toEqual([{ n: 0 }]);
    expect(batches.types.filter((t) => t.table_name === "audit").map((t) => t.column_name)).toEqual([
      "id",
      "what",
    ]);
    // The built-in path counts the rows loaded (the filter left 3); the Singer path those the tap sent.
    expect(batches.finished.streams["public-customers"]!.rows).toBe(3);
    expect(singer.finished.streams["public-customers"]!.rows).toBe(4);
  });

  test("an external mapper runs as a Singer process after a built-in one, in the order named", async () => {
    const made = project({ select: ["public-customers"] });
    const result = await made.runText(["run", "tap-postgres", "hash-pii", "shout", "target-duckdb"]);
    expect(result.code, describeResult(result)).toBe(0);
    expect(
      await made.duckdb("SELECT id, email, country, mapped_by FROM public.customers ORDER BY id"),
    ).toEqual([
      { id: 1, email: md5("ada@example.com"), country: "FR", mapped_by: "from-mapper" },
      { id: 3, email: null, country: null, mapped_by: "from-mapper" },
      { id: 4, email: md5("cyd@example.com"), country: "DE", mapped_by: "from-mapper" },
    ]);
  });

  test("an environment's overrides of a mapper and of a mapping apply, as an extractor's do", async () => {
    const made = project({ select: ["public-customers"] });
    const withOverrides = spec({ select: ["public-customers"] });
    withOverrides.environments = [
      { name: "dev" },
      {
        name: "prod",
        config: {
          plugins: {
            mappers: [
              { name: "upper-mapper", config: { tag: "from-prod" } },
              { name: "shout", config: { upper: ["email"] } },
            ],
          },
        },
      },
    ];
    made.write(withOverrides);
    const rows = () => made.duckdb("SELECT id, email, country, mapped_by FROM public.customers WHERE id = 1");
    const dev = await made.runText(["run", "tap-postgres", "shout", "target-duckdb"]);
    expect(dev.code, describeResult(dev)).toBe(0);
    expect(await rows()).toEqual([
      { id: 1, email: "ada@example.com", country: "FR", mapped_by: "from-mapper" },
    ]);
    const prod = await made.runText([
      "--environment",
      "prod",
      "run",
      "tap-postgres",
      "shout",
      "target-duckdb",
    ]);
    expect(prod.code, describeResult(prod)).toBe(0);
    expect(await rows()).toEqual([
      { id: 1, email: "ADA@EXAMPLE.COM", country: "FR", mapped_by: "from-prod" },
    ]);
    // An override naming no mapper or mapping is an error, as one naming no extractor is.
    withOverrides.environments[1]!.config = { plugins: { mappers: [{ name: "shoot", config: {} }] } };
    made.write(withOverrides);
    const typo = await made.runText([
      "--environment",
      "prod",
      "run",
      "tap-postgres",
      "shout",
      "target-duckdb",
    ]);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain(
      'no mapper or mapping named "shoot" in plugins.mappers (did you mean `shout`?)',
    );
  });

  test("an external mapper that fails fails the run with its stderr, and commits no state after", async () => {
    const made = project({ select: ["public-customers"] });
    const result = await made.runText(["run", "tap-postgres", "shout-dies", "target-duckdb"]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("shout-dies exited with status 3");
    expect(result.stderr).toContain("upper-mapper: giving up after 1 records");
    expect(await made.state("dev:tap-postgres-to-target-duckdb")).toBeUndefined();
  });

  test("a mapping outside the built-in subset is refused before the run, saying where and what to do", async () => {
    const made = project();
    const outside = spec();
    (outside.plugins as unknown as typeof MAPPERS).mappers[0]!.mappings.push({
      name: "lower-email",
      config: { stream_maps: { "public-customers": { email: "email.lower()" } } },
    });
    made.write(outside);
    const refused = await made.runText(["run", "tap-postgres", "hash-pii", "target-duckdb"]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(
      'plugins.mappers[0].mappings[5]: mapping "lower-email": stream_maps.public-customers.email: `email.lower()`: methods and attributes',
    );
    expect(refused.stderr).toContain("set `builtin: false` on the mapper");
    made.write(spec());
    const follow = await made.runText(["run", "tap-postgres", "hash-pii", "target-duckdb", "--follow"]);
    expect(follow.code).toBe(2);
    expect(follow.stderr).toContain("--follow does not run through mappings (hash-pii)");
    const typo = await made.runText(["run", "tap-postgres", "hahs-pii", "target-duckdb"]);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain(
      '"hahs-pii" is not a mapping of plugins.mappers (did you mean `hash-pii`?)',
    );
  });
});

test("sluice install: meltano-map-transformer is built in, another mapper runs its executable", async () => {
  const made = project();
  const result = await made.runText(["install"]);
  expect(result.code, describeResult(result)).toBe(0);
  expect(result.stderr).toContain("meltano-map-transformer: built in, nothing to install");
  expect(result.stderr).toContain("upper-mapper: no pip_url; it runs its `executable` (or its name on PATH)");
});

describe("mappings under LOG_BASED", () => {
  // cdc-pii drops other streams (`__else__`), so it runs on the Singer path; cdc-pii-batches on batches.
  test.each(["cdc-pii", "cdc-pii-batches"])(
    "%s: a row that stops matching the filter is deleted in the warehouse; a hashed key keeps upserts",
    async (mapping) => {
      const made = project({
        select: ["public-customers"],
        metadata: { "public-customers": { "replication-method": "LOG_BASED" } },
        target: { hard_delete: true },
      });
      const first = await made.runText(["run", "tap-postgres", mapping, "target-duckdb"]);
      expect(first.code, describeResult(first)).toBe(0);
      const rows = async () =>
        made.duckdb("SELECT id, email, country FROM public.customers ORDER BY country NULLS FIRST, id");
      expect(await rows()).toEqual([
        { id: md5("3"), email: null, country: null },
        { id: md5("1"), email: md5("ada@example.com"), country: "FR" },
        { id: md5("4"), email: md5("cyd@example.com"), country: "de" },
      ]);
      try {
        await db.query(`
        UPDATE customers SET country = 'XX' WHERE id = 1;           -- stops matching: deleted
        UPDATE customers SET email = 'cyd@new.example' WHERE id = 4; -- the hashed key: an upsert
        INSERT INTO customers VALUES (5, 'eve@example.com', '555', 'XX', 1); -- never matches
        UPDATE customers SET country = 'FR' WHERE id = 2;           -- starts matching: inserted
        DELETE FROM customers WHERE id = 3;                         -- a delete finds the hashed key`);
        const second = await made.runText(["run", "tap-postgres", mapping, "target-duckdb"]);
        expect(second.code, describeResult(second)).toBe(0);
        expect(await rows()).toEqual([
          { id: md5("2"), email: md5("bob@example.com"), country: "FR" },
          { id: md5("4"), email: md5("cyd@new.example"), country: "de" },
        ]);
      } finally {
        await db.query(`
        UPDATE customers SET country = 'FR' WHERE id = 1;
        UPDATE customers SET email = 'cyd@example.com' WHERE id = 4;
        DELETE FROM customers WHERE id = 5;
        UPDATE customers SET country = 'XX' WHERE id = 2;
        INSERT INTO customers VALUES (3, NULL, '333', NULL, NULL);`);
      }
    },
  );
});
