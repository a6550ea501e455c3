import type { Scenario } from "./drift-scenario.js";

/**
 * The drift scenarios that hold today, each played by every method it lists against every loader
 * (see `drift-*.test.ts`). A scenario's SQL keeps `updated_at` moving with each change so that
 * INCREMENTAL can see it; deletes are for the methods that can see them.
 */
const ALL = ["FULL_TABLE", "INCREMENTAL", "LOG_BASED"] as const;
const SEES_DELETES = ["FULL_TABLE", "LOG_BASED"] as const;

/** A table with a key, text, a numeric, a boolean, a timestamptz and jsonb. */
const ITEMS = `
  CREATE TABLE items (
    id int PRIMARY KEY, name text, price numeric(10,2), active boolean,
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp(), doc jsonb
  );
  INSERT INTO items (id, name, price, active, doc)
    SELECT g, 'item ' || g, g * 1.5, g % 2 = 0, jsonb_build_object('g', g, 'tags', jsonb_build_array('a', g))
      FROM generate_series(1, 50) g;`;

export const SCENARIOS: Scenario[] = [
  {
    name: "inserts, updates and deletes",
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
