import { afterAll, expect, test } from "vitest";
import { createTestDatabase } from "../support/pg.js";

const db = await createTestDatabase("smoke");
afterAll(() => db.drop());

test("the suite's PostgreSQL runs with logical replication enabled", async () => {
  const rows = await db.query<{ wal_level: string }>("SHOW wal_level");
  expect(rows[0]?.wal_level).toBe("logical");
});
