import type { Scenario } from "./drift-scenario.js";

/**
 * The drift scenarios, each played by every method it lists against every loader
 * (see `drift-*.test.ts`). A scenario's SQL keeps `updated_at` moving with each change so that
 * INCREMENTAL can see it; deletes are for the methods that can see them.
 */
const ALL = ["FULL_TABLE", "INCREMENTAL", "LOG_BASED"] as const;
const GENERATED = `
  CREATE TABLE calc (id int PRIMARY KEY, a int, doubled int GENERATED ALWAYS AS (a * 2) STORED,
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp());
  INSERT INTO calc (id, a) SELECT g, g FROM generate_series(1, 5) g;`;
const SEES_DELETES = ["FULL_TABLE", "LOG_BASED"] as const;

/**
 * A table whose `body` is stored out of line (TOAST, no compression): an update that does not
 * change it sends it to pgoutput as "unchanged" rather than its value.
 */
const DOCS = `
  CREATE TABLE docs (id int PRIMARY KEY, title text, body text, updated_at timestamptz NOT NULL DEFAULT clock_timestamp());
  ALTER TABLE docs ALTER COLUMN body SET STORAGE EXTERNAL;
  INSERT INTO docs (id, title, body) SELECT g, 'doc ' || g, repeat(chr(64 + g), 9000) FROM generate_series(1, 5) g;`;

/** A table with a key, text, a numeric, a boolean, a timestamptz and jsonb. */
const ITEMS = `
  CREATE TABLE items (
    id int PRIMARY KEY, name text, price numeric(10,2), active boolean,
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp(), doc jsonb
  );
  INSERT INTO items (id, name, price, active, doc)
    SELECT g, 'item ' || g, g * 1.5, g % 2 = 0, jsonb_build_object('g', g, 'tags', jsonb_build_array('a', g))
      FROM generate_series(1, 50) g;`;

const MORE: Scenario[] = [
  {
    // Found by the model test (seed 11, shrunk to these steps): the rows already loaded keep NULL
    // in the new column where the source has its default.
    name: "regression: a NOT NULL DEFAULT column added after a run",
    setup: `
      CREATE TABLE t0 (id int PRIMARY KEY, a int, b text);
      INSERT INTO t0 VALUES (1, 1, 'one'), (2, NULL, repeat('x', 9000)), (1001, 3, NULL), (1002, 4, 'four');`,
    methods: ["LOG_BASED"],
    steps: [{ run: {} }, { sql: "ALTER TABLE t0 ADD COLUMN c3 int NOT NULL DEFAULT 7" }, { run: {} }],
  },
  {
    // Found by the model test (seed 7, shrunk to these steps): DuckDB cannot turn 'one' into an
    // integer in place; it refuses, naming the column and --full-refresh, which converges.
    name: "regression: a text column retyped to int after a run",
    mayRefuse: true,
    setup: `
      CREATE TABLE t0 (id int PRIMARY KEY, a int, b text);
      INSERT INTO t0 VALUES (1, 1, 'one'), (2, NULL, repeat('x', 9000)), (1001, 3, NULL), (1002, 4, 'four');`,
    methods: ["FULL_TABLE", "LOG_BASED"],
    steps: [{ run: {} }, { sql: "ALTER TABLE t0 ALTER COLUMN b TYPE int USING length(b)" }, { run: {} }],
  },
  {
    // The change stays in the WAL after the source row is gone: every run meets it again, and
    // says to copy the stream again (decided: a refusal naming the way out, not a skipped change).
    name: "a value the warehouse cannot hold under LOG_BASED: each run is refused, naming --full-refresh, until the stream is copied again",
    setup: ITEMS,
    loaders: ["duckdb", "bigquery"],
    core: true,
    methods: ["LOG_BASED"],
    steps: [
      { run: {} },
      { sql: "INSERT INTO items (id, name, price) VALUES (70, 'not a number', 'NaN')" },
      { run: { fails: /items[\s\S]*price|price[\s\S]*items/ } },
      { sql: "DELETE FROM items WHERE id = 70" },
      { run: { fails: /--full-refresh --select public-items/ } },
      { run: { fullRefresh: true } },
    ],
  },
  {
    name: "a value the warehouse cannot hold: the run is refused, then a full refresh converges once it is gone",
    core: true,
    setup: ITEMS,
    // NaN in a numeric(10,2): PostgreSQL holds it, DuckDB's DECIMAL and BigQuery's NUMERIC cannot.
    loaders: ["duckdb", "bigquery"],
    methods: [...ALL],
    steps: [
      { run: {} },
      { sql: "INSERT INTO items (id, name, price) VALUES (70, 'not a number', 'NaN')" },
      { run: { fails: /items[\s\S]*price|price[\s\S]*items/ } },
      { sql: "DELETE FROM items WHERE id = 70" },
      { run: { fullRefresh: true } },
    ],
  },
  {
    name: "key-changing updates",
    setup: ITEMS,
    methods: [...SEES_DELETES],
    steps: [
      { run: {} },
      { sql: "UPDATE items SET id = id + 1000, updated_at = clock_timestamp() WHERE id <= 3" },
      { run: {} },
      { sql: "UPDATE items SET id = 3, updated_at = clock_timestamp() WHERE id = 1003" },
      { run: {} },
    ],
  },
  {
    name: "TOASTed values kept through updates of other columns",
    setup: DOCS,
    methods: [...ALL],
    steps: [
      { run: {} },
      { sql: "UPDATE docs SET title = 'changed', updated_at = clock_timestamp() WHERE id IN (1, 2)" },
      { run: {} },
    ],
  },
  {
    name: "key-changing updates of rows with TOASTed values",
    core: true,
    setup: DOCS,
    methods: [...SEES_DELETES],
    steps: [
      { run: {} },
      { sql: "UPDATE docs SET id = id + 100, updated_at = clock_timestamp() WHERE id IN (1, 2)" },
      { run: {} },
    ],
  },
  {
    name: "replica identity FULL: updates, key changes and deletes of TOASTed rows",
    // Into BigQuery the path of whole-row changes: the Storage Write API's default stream.
    core: true,
    setup: `${DOCS} ALTER TABLE docs REPLICA IDENTITY FULL;`,
    methods: [...SEES_DELETES],
    steps: [
      { run: {} },
      {
        sql: "UPDATE docs SET title = 't' WHERE id = 1; UPDATE docs SET id = 200 WHERE id = 2; DELETE FROM docs WHERE id = 3",
      },
      { run: {} },
    ],
  },
  {
    name: "add a column",
    setup: ITEMS,
    methods: [...ALL],
    steps: [
      { run: {} },
      {
        sql: "ALTER TABLE items ADD COLUMN note text; UPDATE items SET note = 'n' || id, updated_at = clock_timestamp() WHERE id <= 3",
      },
      { sql: "INSERT INTO items (id, name, note) VALUES (60, 'x', 'fresh')" },
      { run: {} },
    ],
  },
  {
    name: "add a column NOT NULL DEFAULT",
    core: true,
    mayRefuse: true,
    setup: ITEMS,
    methods: [...ALL],
    steps: [
      { run: {} },
      {
        sql: "ALTER TABLE items ADD COLUMN rank int NOT NULL DEFAULT 7; INSERT INTO items (id, name) VALUES (60, 'x')",
      },
      { run: {} },
    ],
  },
  {
    name: "drop a column",
    setup: ITEMS,
    methods: [...ALL],
    steps: [
      { run: {} },
      {
        sql: "ALTER TABLE items DROP COLUMN doc; UPDATE items SET name = 'after drop', updated_at = clock_timestamp() WHERE id <= 3",
      },
      { sql: "INSERT INTO items (id, name) VALUES (60, 'x')" },
      { run: {} },
    ],
  },
  {
    name: "rename a column",
    core: true,
    mayRefuse: true,
    setup: ITEMS,
    methods: [...ALL],
    steps: [
      { run: {} },
      {
        sql: "ALTER TABLE items RENAME COLUMN name TO title; UPDATE items SET price = 1, updated_at = clock_timestamp() WHERE id <= 3",
      },
      { run: {} },
    ],
  },
  {
    name: "timestamp to timestamptz with a non-UTC server TimeZone",
    core: true,
    mayRefuse: true,
    timeZone: "America/New_York",
    setup: `
      CREATE TABLE ev (id int PRIMARY KEY, at timestamp, updated_at timestamptz NOT NULL DEFAULT clock_timestamp());
      INSERT INTO ev (id, at) VALUES (1, '2024-01-01 10:00:00'), (2, '2024-07-01 23:30:00.5'), (3, NULL);`,
    methods: [...ALL],
    steps: [
      { run: {} },
      {
        sql: "ALTER TABLE ev ALTER COLUMN at TYPE timestamptz; INSERT INTO ev (id, at) VALUES (4, '2024-02-02 02:00:00+05')",
      },
      { run: {} },
    ],
  },
  {
    name: "drop and recreate a table",
    core: true,
    mayRefuse: true,
    setup: ITEMS,
    methods: [...SEES_DELETES],
    steps: [
      { run: {} },
      {
        sql: `DROP TABLE items;
              CREATE TABLE items (id int PRIMARY KEY, name text, updated_at timestamptz NOT NULL DEFAULT clock_timestamp());
              INSERT INTO items (id, name) VALUES (1, 'reborn'), (100, 'new');`,
      },
      { run: {} },
      {
        sql: "UPDATE items SET name = 'again' WHERE id = 100; INSERT INTO items (id, name) VALUES (101, 'z')",
      },
      { run: {} },
    ],
  },
  {
    name: "TRUNCATE",
    core: true,
    setup: ITEMS,
    methods: [...SEES_DELETES],
    steps: [
      { run: {} },
      { sql: "TRUNCATE items; INSERT INTO items (id, name) VALUES (1, 'after truncate'), (77, 'new')" },
      { run: {} },
    ],
  },
  {
    name: "truncate of one partition",
    setup: `
      CREATE TABLE sales (id int, region text, amount numeric(10,2), updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        PRIMARY KEY (id, region)) PARTITION BY LIST (region);
      CREATE TABLE sales_eu PARTITION OF sales FOR VALUES IN ('eu');
      CREATE TABLE sales_us PARTITION OF sales FOR VALUES IN ('us');
      INSERT INTO sales (id, region, amount) SELECT g, CASE WHEN g % 2 = 0 THEN 'eu' ELSE 'us' END, g FROM generate_series(1, 20) g;`,
    methods: [...SEES_DELETES],
    steps: [
      { run: {} },
      { sql: "TRUNCATE sales_eu; INSERT INTO sales (id, region, amount) VALUES (100, 'us', 1)" },
      { run: {} },
    ],
  },
  {
    name: "--select subsets",
    core: true,
    setup: `${ITEMS}
      CREATE TABLE other (id int PRIMARY KEY, v text, updated_at timestamptz NOT NULL DEFAULT clock_timestamp());
      INSERT INTO other (id, v) SELECT g, 'v' || g FROM generate_series(1, 10) g;`,
    methods: [...ALL],
    steps: [
      { run: { select: ["items"] } },
      {
        sql: "UPDATE items SET name = 'x', updated_at = clock_timestamp() WHERE id = 1; UPDATE other SET v = 'y', updated_at = clock_timestamp() WHERE id = 1",
      },
      { run: { select: ["other"] } },
      {
        sql: "INSERT INTO other (id, v) VALUES (11, 'new'); INSERT INTO items (id, name) VALUES (99, 'new')",
      },
      { run: { select: ["items"] } },
      { run: {} },
    ],
  },
  {
    name: "--full-refresh --select",
    setup: `${ITEMS}
      CREATE TABLE other (id int PRIMARY KEY, v text, updated_at timestamptz NOT NULL DEFAULT clock_timestamp());
      INSERT INTO other (id, v) SELECT g, 'v' || g FROM generate_series(1, 10) g;`,
    methods: [...ALL],
    steps: [
      { run: {} },
      { sql: "DELETE FROM items WHERE id = 1", methods: [...SEES_DELETES] },
      {
        sql: "UPDATE items SET name = 'x', updated_at = clock_timestamp() WHERE id = 2; INSERT INTO other (id, v) VALUES (11, 'new')",
      },
      { run: { select: ["items"], fullRefresh: true } },
      { run: {} },
    ],
  },
  {
    name: "INCREMENTAL with NULL and infinity keys",
    // BigQuery cannot hold infinity: target-bigquery refuses it by its invalid_values setting.
    loaders: ["duckdb", "postgres"],
    setup: `
      CREATE TABLE marks (id int PRIMARY KEY, v text, updated_at timestamptz);
      INSERT INTO marks VALUES (1, 'a', '2024-01-01'), (2, 'null key', NULL), (3, 'future', 'infinity'), (4, 'past', '-infinity');`,
    methods: ["INCREMENTAL"],
    steps: [
      { run: {} },
      {
        sql: "INSERT INTO marks VALUES (5, 'b', '2024-02-01'), (6, 'null too', NULL); UPDATE marks SET v = 'changed' WHERE id = 2",
      },
      { run: {} },
      { run: {} },
    ],
  },
  {
    name: "a table renamed",
    setup: ITEMS,
    methods: [...ALL],
    steps: [
      { run: {} },
      { sql: "ALTER TABLE items RENAME TO goods; INSERT INTO goods (id, name) VALUES (80, 'after rename')" },
      { run: {} },
      { sql: "UPDATE goods SET name = 'moved', updated_at = clock_timestamp() WHERE id = 1" },
      { run: {} },
    ],
  },
  {
    name: "generated columns",
    servers: ["postgres"],
    setup: GENERATED,
    methods: [...ALL],
    steps: [
      { run: {} },
      {
        sql: "UPDATE calc SET a = a + 10, updated_at = clock_timestamp() WHERE id <= 2; INSERT INTO calc (id, a) VALUES (6, 6)",
      },
      { run: {} },
    ],
  },
  {
    name: "generated columns before PostgreSQL 18, read by queries",
    servers: ["postgres15"],
    setup: GENERATED,
    methods: ["FULL_TABLE", "INCREMENTAL"],
    steps: [
      { run: {} },
      {
        sql: "UPDATE calc SET a = a + 10, updated_at = clock_timestamp() WHERE id <= 2; INSERT INTO calc (id, a) VALUES (6, 6)",
      },
      { run: {} },
    ],
  },
  {
    // pgoutput before 18 never carries a generated column: refused before anything is copied.
    name: "generated columns before PostgreSQL 18 under LOG_BASED are refused, naming the column",
    servers: ["postgres15"],
    setup: GENERATED,
    methods: ["LOG_BASED"],
    steps: [
      {
        run: { fails: /doubled\W{0,4} is a generated column, which PostgreSQL before 18 does not publish/ },
      },
    ],
  },
  {
    name: "enum ADD VALUE",
    setup: `
      CREATE TYPE mood AS ENUM ('sad', 'ok');
      CREATE TABLE feelings (id int PRIMARY KEY, m mood, updated_at timestamptz NOT NULL DEFAULT clock_timestamp());
      INSERT INTO feelings (id, m) VALUES (1, 'sad'), (2, 'ok');`,
    methods: [...ALL],
    steps: [
      { run: {} },
      { sql: "ALTER TYPE mood ADD VALUE 'happy'" },
      {
        sql: "INSERT INTO feelings (id, m) VALUES (3, 'happy'); UPDATE feelings SET m = 'happy', updated_at = clock_timestamp() WHERE id = 1",
      },
      { run: {} },
    ],
  },
  {
    name: "kill -9 mid-copy, then runs again",
    setup: `${ITEMS}
      INSERT INTO items (id, name, price, doc) SELECT g, 'bulk ' || g, g, '{}' FROM generate_series(1000, 6000) g;`,
    tap: { batch_size_rows: 500 },
    methods: [...ALL],
    steps: [
      { run: { kill: "sigkill-mid-copy" } },
      { run: {} },
      { sql: "UPDATE items SET name = 'after kill', updated_at = clock_timestamp() WHERE id <= 1200" },
      { sql: "DELETE FROM items WHERE id BETWEEN 2000 AND 2100", methods: [...SEES_DELETES] },
      { run: { kill: "sigkill-mid-copy" } },
      { run: {} },
    ],
  },
  {
    name: "INCREMENTAL replication key dropped: the run is refused, then converges once it is back",
    setup: ITEMS,
    methods: ["INCREMENTAL"],
    steps: [
      { run: {} },
      { sql: "ALTER TABLE items DROP COLUMN updated_at; INSERT INTO items (id, name) VALUES (90, 'x')" },
      { run: { fails: /items[\s\S]*updated_at|updated_at[\s\S]*items/ } },
      { sql: "ALTER TABLE items ADD COLUMN updated_at timestamptz NOT NULL DEFAULT clock_timestamp()" },
      { run: {} },
    ],
  },
];

const BASICS: Scenario[] = [
  {
    name: "inserts, updates and deletes",
    core: true,
    setup: ITEMS,
    servers: ["postgres", "postgres15"],
    methods: [...ALL],
    steps: [
      { run: {} },
      {
        sql: `INSERT INTO items (id, name, price) VALUES (51, 'new', 9.99), (52, NULL, NULL);
              UPDATE items SET name = 'renamed', price = price + 1, updated_at = clock_timestamp() WHERE id <= 5;`,
      },
      { sql: "DELETE FROM items WHERE id BETWEEN 10 AND 12", methods: [...SEES_DELETES] },
      { run: {} },
      {
        sql: "UPDATE items SET active = NOT active, doc = '{\"x\": [1, 2]}', updated_at = clock_timestamp() WHERE id = 51",
      },
      { run: {} },
    ],
  },
];

export const SCENARIOS: Scenario[] = [...BASICS, ...MORE];
