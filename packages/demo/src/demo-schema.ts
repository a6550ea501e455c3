import type pg from "pg";

/**
 * The demo's OLTP schema: accounts and their events, with the types that trip ELT tools up
 * (jsonb payloads, numeric amounts, timestamptz, arrays). Rows are generated in SQL, so a large
 * table is made without pulling anything through Node.
 */
export const DEMO_SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS accounts (
  id bigint PRIMARY KEY,
  email text NOT NULL,
  name text NOT NULL,
  country char(2) NOT NULL,
  plan text NOT NULL,
  balance numeric(12,2) NOT NULL,
  tags text[] NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
  id bigint PRIMARY KEY,
  account_id bigint NOT NULL REFERENCES accounts (id),
  kind text NOT NULL,
  amount numeric(12,2),
  payload jsonb NOT NULL,
  labels text[],
  is_test boolean NOT NULL DEFAULT false,
  occurred_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS events_updated_at ON events (updated_at);
CREATE INDEX IF NOT EXISTS accounts_updated_at ON accounts (updated_at);
`;

/** Inserts `count` accounts with ids after the current maximum. */
export async function insertAccounts(client: pg.Client, count: number): Promise<void> {
  await client.query(
    `INSERT INTO accounts
     SELECT base + g,
            'user' || (base + g) || '@example.com',
            (ARRAY['Ada','Grace','Linus','Edsger','Barbara','Ken','Margaret','Dennis'])[1 + (base + g) % 8] || ' ' || (base + g),
            (ARRAY['GB','DE','FR','US','JP','BR','IN','NL'])[1 + (base + g) % 8],
            (ARRAY['free','pro','team','enterprise'])[1 + (base + g) % 4],
            round((random() * 10000)::numeric, 2),
            CASE WHEN g % 3 = 0 THEN ARRAY['beta'] WHEN g % 3 = 1 THEN ARRAY['beta','vip'] ELSE '{}' END,
            now() - make_interval(days => (g % 900)),
            now() - make_interval(mins => (g % 5000))
     FROM (SELECT coalesce(max(id), 0) AS base FROM accounts) b, generate_series(1, $1) g`,
    [count],
  );
}

/**
 * Inserts `count` events for existing accounts, with ids after the current maximum. History is
 * spread over the past (3 s apart); `fresh` events happen now, as new traffic does.
 */
export async function insertEvents(client: pg.Client, count: number, fresh = false): Promise<void> {
  await client.query(
    `INSERT INTO events
     SELECT base + g,
            1 + (base + g) % accounts,
            (ARRAY['page_view','signup','purchase','refund','login'])[1 + (base + g) % 5],
            CASE WHEN (base + g) % 5 IN (2, 3) THEN round((random() * 500)::numeric, 2) END,
            jsonb_build_object(
              'path', '/product/' || ((base + g) % 997),
              'user_agent', (ARRAY['Mozilla/5.0 (X11; Linux x86_64)','Mozilla/5.0 (Macintosh)','curl/8.5'])[1 + (base + g) % 3],
              'session', md5((base + g)::text),
              'items', jsonb_build_array((base + g) % 7, (base + g) % 11),
              'note', CASE WHEN g % 50 = 0 THEN 'Grüße, 日本 🎉' END),
            CASE WHEN g % 4 = 0 THEN NULL ELSE ARRAY['web', (ARRAY['eu','us','apac'])[1 + g % 3]] END,
            g % 97 = 0,
            CASE WHEN $2 THEN clock_timestamp() ELSE now() - make_interval(secs => (count - g) * 3) END,
            CASE WHEN $2 THEN clock_timestamp() ELSE now() - make_interval(secs => (count - g) * 3) END
     FROM (SELECT coalesce(max(id), 0) AS base FROM events) b,
          (SELECT count(*) AS accounts FROM accounts) a,
          (SELECT $1::bigint AS count) c,
          generate_series(1, $1) g`,
    [count, fresh],
  );
}

export async function createDemoData(
  client: pg.Client,
  options: { accounts: number; events: number },
): Promise<void> {
  await client.query(DEMO_SCHEMA_SQL);
  await insertAccounts(client, options.accounts);
  await insertEvents(client, options.events);
  await client.query("ANALYZE accounts; ANALYZE events");
}

/** What a day of traffic does: new events, some events corrected, some accounts changed. */
export async function applyDemoChanges(client: pg.Client): Promise<{ inserted: number; updated: number }> {
  await insertEvents(client, 2000, true);
  const events = await client.query(
    `UPDATE events SET amount = coalesce(amount, 0) + 1, updated_at = clock_timestamp()
     WHERE id IN (SELECT id FROM events ORDER BY id LIMIT 500)`,
  );
  const accounts = await client.query(
    `UPDATE accounts SET plan = 'enterprise', updated_at = clock_timestamp() WHERE id % 100 = 0`,
  );
  return { inserted: 2000, updated: (events.rowCount ?? 0) + (accounts.rowCount ?? 0) };
}
