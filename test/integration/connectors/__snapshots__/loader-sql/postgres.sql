-- full table, replaced at finish
SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; SET TimeZone = 'UTC'; SET extra_float_digits = 1; SET bytea_output = 'hex'; SET client_encoding = 'UTF8'; SET synchronous_commit = on;
SELECT 1 FROM pg_namespace WHERE nspname = $1;
CREATE SCHEMA IF NOT EXISTS "<place>";
DROP TABLE IF EXISTS "<place>"."items__sluice_new";
CREATE TABLE "<place>"."items__sluice_new" ("id" bigint, "name" text, "doc" jsonb, "changed_at" timestamp without time zone, PRIMARY KEY ("id"));
BEGIN;
CREATE TEMPORARY TABLE sluice_batch (c0 bigint, c1 text, c2 jsonb, c3 timestamp without time zone, sluice_row bigint GENERATED ALWAYS AS IDENTITY) ON COMMIT DROP;
COPY sluice_batch (c0, c1, c2, c3) FROM STDIN (FORMAT csv, HEADER false, ENCODING 'UTF8');
CREATE TEMPORARY TABLE sluice_change ON COMMIT DROP AS SELECT DISTINCT ON (v0) v0, v1, v2, v3, sluice_deleted, sluice_seq FROM (SELECT c0 AS v0, c1 AS v1, c2 AS v2, c3 AS v3, NULL::timestamptz AS sluice_deleted, (0 + sluice_row - 1) AS sluice_seq FROM sluice_batch) AS b ORDER BY v0, sluice_seq DESC;
INSERT INTO "<place>"."items__sluice_new" ("id", "name", "doc", "changed_at") SELECT s.v0, s.v1, s.v2, s.v3 FROM sluice_change AS s ON CONFLICT ("id") DO UPDATE SET "name" = EXCLUDED."name", "doc" = EXCLUDED."doc", "changed_at" = EXCLUDED."changed_at";
COMMIT;
BEGIN;
SELECT format('GRANT %s ON %s TO %s%s', a.privilege_type, $2::text, CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(r.rolname) END, CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END) AS statement FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a LEFT JOIN pg_roles r ON r.oid = a.grantee WHERE c.oid = to_regclass($1) AND a.grantee <> c.relowner UNION ALL SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i WHERE i.indrelid = to_regclass($1) AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid);
DROP TABLE IF EXISTS "<place>"."items";
ALTER TABLE "<place>"."items__sluice_new" RENAME TO "items";
COMMIT;

-- full table with metadata columns
SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; SET TimeZone = 'UTC'; SET extra_float_digits = 1; SET bytea_output = 'hex'; SET client_encoding = 'UTF8'; SET synchronous_commit = on;
SELECT 1 FROM pg_namespace WHERE nspname = $1;
CREATE SCHEMA IF NOT EXISTS "<place>";
DROP TABLE IF EXISTS "<place>"."items__sluice_new";
CREATE TABLE "<place>"."items__sluice_new" ("id" bigint, "name" text, "doc" jsonb, "changed_at" timestamp without time zone, "_sdc_extracted_at" timestamp with time zone, "_sdc_received_at" timestamp with time zone, "_sdc_batched_at" timestamp with time zone, "_sdc_deleted_at" timestamp with time zone, "_sdc_sequence" bigint, "_sdc_table_version" bigint, PRIMARY KEY ("id"));
BEGIN;
CREATE TEMPORARY TABLE sluice_batch (c0 bigint, c1 text, c2 jsonb, c3 timestamp without time zone, sluice_row bigint GENERATED ALWAYS AS IDENTITY) ON COMMIT DROP;
COPY sluice_batch (c0, c1, c2, c3) FROM STDIN (FORMAT csv, HEADER false, ENCODING 'UTF8');
CREATE TEMPORARY TABLE sluice_change ON COMMIT DROP AS SELECT DISTINCT ON (v0) v0, v1, v2, v3, v4, v5, v6, v7, sluice_deleted, sluice_seq FROM (SELECT c0 AS v0, c1 AS v1, c2 AS v2, c3 AS v3, '2024-06-01T00:00:00.000Z'::timestamptz AS v4, '<now>'::timestamptz AS v5, transaction_timestamp() AS v6, 7 AS v7, NULL::timestamptz AS sluice_deleted, (0 + sluice_row - 1) AS sluice_seq FROM sluice_batch) AS b ORDER BY v0, sluice_seq DESC;
INSERT INTO "<place>"."items__sluice_new" ("id", "name", "doc", "changed_at", "_sdc_extracted_at", "_sdc_received_at", "_sdc_batched_at", "_sdc_table_version", "_sdc_deleted_at", "_sdc_sequence") SELECT s.v0, s.v1, s.v2, s.v3, s.v4, s.v5, s.v6, s.v7, s.sluice_deleted, s.sluice_seq FROM sluice_change AS s ON CONFLICT ("id") DO UPDATE SET "name" = EXCLUDED."name", "doc" = EXCLUDED."doc", "changed_at" = EXCLUDED."changed_at", "_sdc_extracted_at" = EXCLUDED."_sdc_extracted_at", "_sdc_received_at" = EXCLUDED."_sdc_received_at", "_sdc_batched_at" = EXCLUDED."_sdc_batched_at", "_sdc_table_version" = EXCLUDED."_sdc_table_version", "_sdc_deleted_at" = EXCLUDED."_sdc_deleted_at", "_sdc_sequence" = EXCLUDED."_sdc_sequence";
COMMIT;
BEGIN;
SELECT format('GRANT %s ON %s TO %s%s', a.privilege_type, $2::text, CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(r.rolname) END, CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END) AS statement FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a LEFT JOIN pg_roles r ON r.oid = a.grantee WHERE c.oid = to_regclass($1) AND a.grantee <> c.relowner UNION ALL SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i WHERE i.indrelid = to_regclass($1) AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid);
DROP TABLE IF EXISTS "<place>"."items";
ALTER TABLE "<place>"."items__sluice_new" RENAME TO "items";
COMMIT;

-- upsert of plain batches (INCREMENTAL)
SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; SET TimeZone = 'UTC'; SET extra_float_digits = 1; SET bytea_output = 'hex'; SET client_encoding = 'UTF8'; SET synchronous_commit = on;
SELECT 1 FROM pg_namespace WHERE nspname = $1;
CREATE SCHEMA IF NOT EXISTS "<place>";
SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum;
CREATE TABLE "<place>"."items" ("id" bigint, "name" text, "doc" jsonb, "changed_at" timestamp without time zone, PRIMARY KEY ("id"));
BEGIN;
CREATE TEMPORARY TABLE sluice_batch (c0 bigint, c1 text, c2 jsonb, c3 timestamp without time zone, sluice_row bigint GENERATED ALWAYS AS IDENTITY) ON COMMIT DROP;
COPY sluice_batch (c0, c1, c2, c3) FROM STDIN (FORMAT csv, HEADER false, ENCODING 'UTF8');
CREATE TEMPORARY TABLE sluice_change ON COMMIT DROP AS SELECT DISTINCT ON (v0) v0, v1, v2, v3, sluice_deleted, sluice_seq FROM (SELECT c0 AS v0, c1 AS v1, c2 AS v2, c3 AS v3, NULL::timestamptz AS sluice_deleted, (0 + sluice_row - 1) AS sluice_seq FROM sluice_batch) AS b ORDER BY v0, sluice_seq DESC;
INSERT INTO "<place>"."items" ("id", "name", "doc", "changed_at") SELECT s.v0, s.v1, s.v2, s.v3 FROM sluice_change AS s ON CONFLICT ("id") DO UPDATE SET "name" = EXCLUDED."name", "doc" = EXCLUDED."doc", "changed_at" = EXCLUDED."changed_at";
COMMIT;
BEGIN;
CREATE TEMPORARY TABLE sluice_batch (c0 bigint, c1 text, c2 jsonb, c3 timestamp without time zone, sluice_row bigint GENERATED ALWAYS AS IDENTITY) ON COMMIT DROP;
COPY sluice_batch (c0, c1, c2, c3) FROM STDIN (FORMAT csv, HEADER false, ENCODING 'UTF8');
CREATE TEMPORARY TABLE sluice_change ON COMMIT DROP AS SELECT DISTINCT ON (v0) v0, v1, v2, v3, sluice_deleted, sluice_seq FROM (SELECT c0 AS v0, c1 AS v1, c2 AS v2, c3 AS v3, NULL::timestamptz AS sluice_deleted, (0 + sluice_row - 1) AS sluice_seq FROM sluice_batch) AS b ORDER BY v0, sluice_seq DESC;
INSERT INTO "<place>"."items" ("id", "name", "doc", "changed_at") SELECT s.v0, s.v1, s.v2, s.v3 FROM sluice_change AS s ON CONFLICT ("id") DO UPDATE SET "name" = EXCLUDED."name", "doc" = EXCLUDED."doc", "changed_at" = EXCLUDED."changed_at";
COMMIT;

-- change batches, soft deletes, truncate
SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; SET TimeZone = 'UTC'; SET extra_float_digits = 1; SET bytea_output = 'hex'; SET client_encoding = 'UTF8'; SET synchronous_commit = on;
SELECT 1 FROM pg_namespace WHERE nspname = $1;
CREATE SCHEMA IF NOT EXISTS "<place>";
SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum;
CREATE TABLE "<place>"."items" ("id" bigint, "name" text, "doc" jsonb, "changed_at" timestamp without time zone, PRIMARY KEY ("id"));
ALTER TABLE "<place>"."items" ADD COLUMN "_sdc_deleted_at" timestamp with time zone;
BEGIN;
CREATE TEMPORARY TABLE sluice_batch (c0 bigint, c1 text, c2 jsonb, c3 timestamp without time zone, c4 timestamp with time zone, c5 bigint, c6 text, sluice_row bigint GENERATED ALWAYS AS IDENTITY) ON COMMIT DROP;
COPY sluice_batch (c0, c1, c2, c3, c4, c5, c6) FROM STDIN (FORMAT csv, HEADER false, ENCODING 'UTF8');
CREATE TEMPORARY TABLE sluice_change ON COMMIT DROP AS SELECT DISTINCT ON (v0) v0, first_value(v1) OVER (PARTITION BY v0 ORDER BY sluice_carried_1 DESC, sluice_seq DESC) AS v1, first_value(v2) OVER (PARTITION BY v0 ORDER BY sluice_carried_2 DESC, sluice_seq DESC) AS v2, first_value(v3) OVER (PARTITION BY v0 ORDER BY sluice_carried_3 DESC, sluice_seq DESC) AS v3, sluice_deleted, sluice_seq, bool_or(sluice_carried_1) OVER (PARTITION BY v0) AS sluice_carried_1, bool_or(sluice_carried_2) OVER (PARTITION BY v0) AS sluice_carried_2, bool_or(sluice_carried_3) OVER (PARTITION BY v0) AS sluice_carried_3 FROM (SELECT c0 AS v0, c1 AS v1, c2 AS v2, c3 AS v3, c4 AS sluice_deleted, c5 AS sluice_seq, (c6 IS NULL OR position(',1,' in ',' || c6 || ',') = 0) AS sluice_carried_1, (c6 IS NULL OR position(',2,' in ',' || c6 || ',') = 0) AS sluice_carried_2, (c6 IS NULL OR position(',3,' in ',' || c6 || ',') = 0) AS sluice_carried_3 FROM sluice_batch) AS b ORDER BY v0, sluice_seq DESC;
INSERT INTO "<place>"."items" ("id", "name", "doc", "changed_at", "_sdc_deleted_at") SELECT s.v0, CASE WHEN s.sluice_carried_1 THEN s.v1 ELSE t."name" END, CASE WHEN s.sluice_carried_2 THEN s.v2 ELSE t."doc" END, CASE WHEN s.sluice_carried_3 THEN s.v3 ELSE t."changed_at" END, s.sluice_deleted FROM sluice_change AS s LEFT JOIN "<place>"."items" AS t ON t."id" = s.v0 ON CONFLICT ("id") DO UPDATE SET "name" = EXCLUDED."name", "doc" = EXCLUDED."doc", "changed_at" = EXCLUDED."changed_at", "_sdc_deleted_at" = EXCLUDED."_sdc_deleted_at";
COMMIT;
BEGIN;
CREATE TEMPORARY TABLE sluice_batch (c0 bigint, c1 text, c2 jsonb, c3 timestamp without time zone, c4 timestamp with time zone, c5 bigint, c6 text, sluice_row bigint GENERATED ALWAYS AS IDENTITY) ON COMMIT DROP;
COPY sluice_batch (c0, c1, c2, c3, c4, c5, c6) FROM STDIN (FORMAT csv, HEADER false, ENCODING 'UTF8');
CREATE TEMPORARY TABLE sluice_change ON COMMIT DROP AS SELECT DISTINCT ON (v0) v0, first_value(v1) OVER (PARTITION BY v0 ORDER BY sluice_carried_1 DESC, sluice_seq DESC) AS v1, first_value(v2) OVER (PARTITION BY v0 ORDER BY sluice_carried_2 DESC, sluice_seq DESC) AS v2, first_value(v3) OVER (PARTITION BY v0 ORDER BY sluice_carried_3 DESC, sluice_seq DESC) AS v3, sluice_deleted, sluice_seq, bool_or(sluice_carried_1) OVER (PARTITION BY v0) AS sluice_carried_1, bool_or(sluice_carried_2) OVER (PARTITION BY v0) AS sluice_carried_2, bool_or(sluice_carried_3) OVER (PARTITION BY v0) AS sluice_carried_3 FROM (SELECT c0 AS v0, c1 AS v1, c2 AS v2, c3 AS v3, c4 AS sluice_deleted, c5 AS sluice_seq, (c6 IS NULL OR position(',1,' in ',' || c6 || ',') = 0) AS sluice_carried_1, (c6 IS NULL OR position(',2,' in ',' || c6 || ',') = 0) AS sluice_carried_2, (c6 IS NULL OR position(',3,' in ',' || c6 || ',') = 0) AS sluice_carried_3 FROM sluice_batch) AS b ORDER BY v0, sluice_seq DESC;
INSERT INTO "<place>"."items" ("id", "name", "doc", "changed_at", "_sdc_deleted_at") SELECT s.v0, CASE WHEN s.sluice_carried_1 THEN s.v1 ELSE t."name" END, CASE WHEN s.sluice_carried_2 THEN s.v2 ELSE t."doc" END, CASE WHEN s.sluice_carried_3 THEN s.v3 ELSE t."changed_at" END, s.sluice_deleted FROM sluice_change AS s LEFT JOIN "<place>"."items" AS t ON t."id" = s.v0 ON CONFLICT ("id") DO UPDATE SET "name" = EXCLUDED."name", "doc" = EXCLUDED."doc", "changed_at" = EXCLUDED."changed_at", "_sdc_deleted_at" = EXCLUDED."_sdc_deleted_at";
COMMIT;
UPDATE "<place>"."items" SET "_sdc_deleted_at" = '2024-06-02T00:00:00.000Z'::timestamptz WHERE "_sdc_deleted_at" IS NULL;

-- change batches, hard deletes, truncate
SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; SET TimeZone = 'UTC'; SET extra_float_digits = 1; SET bytea_output = 'hex'; SET client_encoding = 'UTF8'; SET synchronous_commit = on;
SELECT 1 FROM pg_namespace WHERE nspname = $1;
CREATE SCHEMA IF NOT EXISTS "<place>";
SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum;
CREATE TABLE "<place>"."items" ("id" bigint, "name" text, "doc" jsonb, "changed_at" timestamp without time zone, PRIMARY KEY ("id"));
ALTER TABLE "<place>"."items" ADD COLUMN "_sdc_deleted_at" timestamp with time zone;
BEGIN;
CREATE TEMPORARY TABLE sluice_batch (c0 bigint, c1 text, c2 jsonb, c3 timestamp without time zone, c4 timestamp with time zone, c5 bigint, c6 text, sluice_row bigint GENERATED ALWAYS AS IDENTITY) ON COMMIT DROP;
COPY sluice_batch (c0, c1, c2, c3, c4, c5, c6) FROM STDIN (FORMAT csv, HEADER false, ENCODING 'UTF8');
CREATE TEMPORARY TABLE sluice_change ON COMMIT DROP AS SELECT DISTINCT ON (v0) v0, first_value(v1) OVER (PARTITION BY v0 ORDER BY sluice_carried_1 DESC, sluice_seq DESC) AS v1, first_value(v2) OVER (PARTITION BY v0 ORDER BY sluice_carried_2 DESC, sluice_seq DESC) AS v2, first_value(v3) OVER (PARTITION BY v0 ORDER BY sluice_carried_3 DESC, sluice_seq DESC) AS v3, sluice_deleted, sluice_seq, bool_or(sluice_carried_1) OVER (PARTITION BY v0) AS sluice_carried_1, bool_or(sluice_carried_2) OVER (PARTITION BY v0) AS sluice_carried_2, bool_or(sluice_carried_3) OVER (PARTITION BY v0) AS sluice_carried_3 FROM (SELECT c0 AS v0, c1 AS v1, c2 AS v2, c3 AS v3, c4 AS sluice_deleted, c5 AS sluice_seq, (c6 IS NULL OR position(',1,' in ',' || c6 || ',') = 0) AS sluice_carried_1, (c6 IS NULL OR position(',2,' in ',' || c6 || ',') = 0) AS sluice_carried_2, (c6 IS NULL OR position(',3,' in ',' || c6 || ',') = 0) AS sluice_carried_3 FROM sluice_batch) AS b ORDER BY v0, sluice_seq DESC;
DELETE FROM "<place>"."items" AS t USING sluice_change AS s WHERE t."id" = s.v0 AND s.sluice_deleted IS NOT NULL;
INSERT INTO "<place>"."items" ("id", "name", "doc", "changed_at", "_sdc_deleted_at") SELECT s.v0, CASE WHEN s.sluice_carried_1 THEN s.v1 ELSE t."name" END, CASE WHEN s.sluice_carried_2 THEN s.v2 ELSE t."doc" END, CASE WHEN s.sluice_carried_3 THEN s.v3 ELSE t."changed_at" END, s.sluice_deleted FROM sluice_change AS s LEFT JOIN "<place>"."items" AS t ON t."id" = s.v0 WHERE s.sluice_deleted IS NULL ON CONFLICT ("id") DO UPDATE SET "name" = EXCLUDED."name", "doc" = EXCLUDED."doc", "changed_at" = EXCLUDED."changed_at", "_sdc_deleted_at" = EXCLUDED."_sdc_deleted_at";
COMMIT;
BEGIN;
CREATE TEMPORARY TABLE sluice_batch (c0 bigint, c1 text, c2 jsonb, c3 timestamp without time zone, c4 timestamp with time zone, c5 bigint, c6 text, sluice_row bigint GENERATED ALWAYS AS IDENTITY) ON COMMIT DROP;
COPY sluice_batch (c0, c1, c2, c3, c4, c5, c6) FROM STDIN (FORMAT csv, HEADER false, ENCODING 'UTF8');
CREATE TEMPORARY TABLE sluice_change ON COMMIT DROP AS SELECT DISTINCT ON (v0) v0, first_value(v1) OVER (PARTITION BY v0 ORDER BY sluice_carried_1 DESC, sluice_seq DESC) AS v1, first_value(v2) OVER (PARTITION BY v0 ORDER BY sluice_carried_2 DESC, sluice_seq DESC) AS v2, first_value(v3) OVER (PARTITION BY v0 ORDER BY sluice_carried_3 DESC, sluice_seq DESC) AS v3, sluice_deleted, sluice_seq, bool_or(sluice_carried_1) OVER (PARTITION BY v0) AS sluice_carried_1, bool_or(sluice_carried_2) OVER (PARTITION BY v0) AS sluice_carried_2, bool_or(sluice_carried_3) OVER (PARTITION BY v0) AS sluice_carried_3 FROM (SELECT c0 AS v0, c1 AS v1, c2 AS v2, c3 AS v3, c4 AS sluice_deleted, c5 AS sluice_seq, (c6 IS NULL OR position(',1,' in ',' || c6 || ',') = 0) AS sluice_carried_1, (c6 IS NULL OR position(',2,' in ',' || c6 || ',') = 0) AS sluice_carried_2, (c6 IS NULL OR position(',3,' in ',' || c6 || ',') = 0) AS sluice_carried_3 FROM sluice_batch) AS b ORDER BY v0, sluice_seq DESC;
DELETE FROM "<place>"."items" AS t USING sluice_change AS s WHERE t."id" = s.v0 AND s.sluice_deleted IS NOT NULL;
INSERT INTO "<place>"."items" ("id", "name", "doc", "changed_at", "_sdc_deleted_at") SELECT s.v0, CASE WHEN s.sluice_carried_1 THEN s.v1 ELSE t."name" END, CASE WHEN s.sluice_carried_2 THEN s.v2 ELSE t."doc" END, CASE WHEN s.sluice_carried_3 THEN s.v3 ELSE t."changed_at" END, s.sluice_deleted FROM sluice_change AS s LEFT JOIN "<place>"."items" AS t ON t."id" = s.v0 WHERE s.sluice_deleted IS NULL ON CONFLICT ("id") DO UPDATE SET "name" = EXCLUDED."name", "doc" = EXCLUDED."doc", "changed_at" = EXCLUDED."changed_at", "_sdc_deleted_at" = EXCLUDED."_sdc_deleted_at";
COMMIT;
DELETE FROM "<place>"."items";

-- change batches with metadata columns
SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; SET TimeZone = 'UTC'; SET extra_float_digits = 1; SET bytea_output = 'hex'; SET client_encoding = 'UTF8'; SET synchronous_commit = on;
SELECT 1 FROM pg_namespace WHERE nspname = $1;
CREATE SCHEMA IF NOT EXISTS "<place>";
SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum;
CREATE TABLE "<place>"."items" ("id" bigint, "name" text, "doc" jsonb, "changed_at" timestamp without time zone, "_sdc_extracted_at" timestamp with time zone, "_sdc_received_at" timestamp with time zone, "_sdc_batched_at" timestamp with time zone, "_sdc_deleted_at" timestamp with time zone, "_sdc_sequence" bigint, "_sdc_table_version" bigint, PRIMARY KEY ("id"));
BEGIN;
CREATE TEMPORARY TABLE sluice_batch (c0 bigint, c1 text, c2 jsonb, c3 timestamp without time zone, c4 timestamp with time zone, c5 bigint, c6 text, sluice_row bigint GENERATED ALWAYS AS IDENTITY) ON COMMIT DROP;
COPY sluice_batch (c0, c1, c2, c3, c4, c5, c6) FROM STDIN (FORMAT csv, HEADER false, ENCODING 'UTF8');
CREATE TEMPORARY TABLE sluice_change ON COMMIT DROP AS SELECT DISTINCT ON (v0) v0, first_value(v1) OVER (PARTITION BY v0 ORDER BY sluice_carried_1 DESC, sluice_seq DESC) AS v1, first_value(v2) OVER (PARTITION BY v0 ORDER BY sluice_carried_2 DESC, sluice_seq DESC) AS v2, first_value(v3) OVER (PARTITION BY v0 ORDER BY sluice_carried_3 DESC, sluice_seq DESC) AS v3, v4, v5, v6, v7, sluice_deleted, sluice_seq, bool_or(sluice_carried_1) OVER (PARTITION BY v0) AS sluice_carried_1, bool_or(sluice_carried_2) OVER (PARTITION BY v0) AS sluice_carried_2, bool_or(sluice_carried_3) OVER (PARTITION BY v0) AS sluice_carried_3 FROM (SELECT c0 AS v0, c1 AS v1, c2 AS v2, c3 AS v3, '2024-06-01T00:00:00.000Z'::timestamptz AS v4, '<now>'::timestamptz AS v5, transaction_timestamp() AS v6, 7 AS v7, c4 AS sluice_deleted, c5 AS sluice_seq, (c6 IS NULL OR position(',1,' in ',' || c6 || ',') = 0) AS sluice_carried_1, (c6 IS NULL OR position(',2,' in ',' || c6 || ',') = 0) AS sluice_carried_2, (c6 IS NULL OR position(',3,' in ',' || c6 || ',') = 0) AS sluice_carried_3 FROM sluice_batch) AS b ORDER BY v0, sluice_seq DESC;
INSERT INTO "<place>"."items" ("id", "name", "doc", "changed_at", "_sdc_extracted_at", "_sdc_received_at", "_sdc_batched_at", "_sdc_table_version", "_sdc_deleted_at", "_sdc_sequence") SELECT s.v0, CASE WHEN s.sluice_carried_1 THEN s.v1 ELSE t."name" END, CASE WHEN s.sluice_carried_2 THEN s.v2 ELSE t."doc" END, CASE WHEN s.sluice_carried_3 THEN s.v3 ELSE t."changed_at" END, s.v4, s.v5, s.v6, s.v7, s.sluice_deleted, s.sluice_seq FROM sluice_change AS s LEFT JOIN "<place>"."items" AS t ON t."id" = s.v0 ON CONFLICT ("id") DO UPDATE SET "name" = EXCLUDED."name", "doc" = EXCLUDED."doc", "changed_at" = EXCLUDED."changed_at", "_sdc_extracted_at" = EXCLUDED."_sdc_extracted_at", "_sdc_received_at" = EXCLUDED."_sdc_received_at", "_sdc_batched_at" = EXCLUDED."_sdc_batched_at", "_sdc_table_version" = EXCLUDED."_sdc_table_version", "_sdc_deleted_at" = EXCLUDED."_sdc_deleted_at", "_sdc_sequence" = EXCLUDED."_sdc_sequence";
COMMIT;
BEGIN;
CREATE TEMPORARY TABLE sluice_batch (c0 bigint, c1 text, c2 jsonb, c3 timestamp without time zone, c4 timestamp with time zone, c5 bigint, c6 text, sluice_row bigint GENERATED ALWAYS AS IDENTITY) ON COMMIT DROP;
COPY sluice_batch (c0, c1, c2, c3, c4, c5, c6) FROM STDIN (FORMAT csv, HEADER false, ENCODING 'UTF8');
CREATE TEMPORARY TABLE sluice_change ON COMMIT DROP AS SELECT DISTINCT ON (v0) v0, first_value(v1) OVER (PARTITION BY v0 ORDER BY sluice_carried_1 DESC, sluice_seq DESC) AS v1, first_value(v2) OVER (PARTITION BY v0 ORDER BY sluice_carried_2 DESC, sluice_seq DESC) AS v2, first_value(v3) OVER (PARTITION BY v0 ORDER BY sluice_carried_3 DESC, sluice_seq DESC) AS v3, v4, v5, v6, v7, sluice_deleted, sluice_seq, bool_or(sluice_carried_1) OVER (PARTITION BY v0) AS sluice_carried_1, bool_or(sluice_carried_2) OVER (PARTITION BY v0) AS sluice_carried_2, bool_or(sluice_carried_3) OVER (PARTITION BY v0) AS sluice_carried_3 FROM (SELECT c0 AS v0, c1 AS v1, c2 AS v2, c3 AS v3, '2024-06-01T00:00:00.000Z'::timestamptz AS v4, '<now>'::timestamptz AS v5, transaction_timestamp() AS v6, 7 AS v7, c4 AS sluice_deleted, c5 AS sluice_seq, (c6 IS NULL OR position(',1,' in ',' || c6 || ',') = 0) AS sluice_carried_1, (c6 IS NULL OR position(',2,' in ',' || c6 || ',') = 0) AS sluice_carried_2, (c6 IS NULL OR position(',3,' in ',' || c6 || ',') = 0) AS sluice_carried_3 FROM sluice_batch) AS b ORDER BY v0, sluice_seq DESC;
INSERT INTO "<place>"."items" ("id", "name", "doc", "changed_at", "_sdc_extracted_at", "_sdc_received_at", "_sdc_batched_at", "_sdc_table_version", "_sdc_deleted_at", "_sdc_sequence") SELECT s.v0, CASE WHEN s.sluice_carried_1 THEN s.v1 ELSE t."name" END, CASE WHEN s.sluice_carried_2 THEN s.v2 ELSE t."doc" END, CASE WHEN s.sluice_carried_3 THEN s.v3 ELSE t."changed_at" END, s.v4, s.v5, s.v6, s.v7, s.sluice_deleted, s.sluice_seq FROM sluice_change AS s LEFT JOIN "<place>"."items" AS t ON t."id" = s.v0 ON CONFLICT ("id") DO UPDATE SET "name" = EXCLUDED."name", "doc" = EXCLUDED."doc", "changed_at" = EXCLUDED."changed_at", "_sdc_extracted_at" = EXCLUDED."_sdc_extracted_at", "_sdc_received_at" = EXCLUDED."_sdc_received_at", "_sdc_batched_at" = EXCLUDED."_sdc_batched_at", "_sdc_table_version" = EXCLUDED."_sdc_table_version", "_sdc_deleted_at" = EXCLUDED."_sdc_deleted_at", "_sdc_sequence" = EXCLUDED."_sdc_sequence";
COMMIT;

-- change batches, append-only
SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; SET TimeZone = 'UTC'; SET extra_float_digits = 1; SET bytea_output = 'hex'; SET client_encoding = 'UTF8'; SET synchronous_commit = on;
SELECT 1 FROM pg_namespace WHERE nspname = $1;
CREATE SCHEMA IF NOT EXISTS "<place>";
SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum;
CREATE TABLE "<place>"."items" ("id" bigint, "name" text, "doc" jsonb, "changed_at" timestamp without time zone);
ALTER TABLE "<place>"."items" ADD COLUMN "_sdc_deleted_at" timestamp with time zone;
BEGIN;
CREATE TEMPORARY TABLE sluice_batch (c0 bigint, c1 text, c2 jsonb, c3 timestamp without time zone, c4 timestamp with time zone, c5 bigint, c6 text, sluice_row bigint GENERATED ALWAYS AS IDENTITY) ON COMMIT DROP;
COPY sluice_batch (c0, c1, c2, c3, c4, c5, c6) FROM STDIN (FORMAT csv, HEADER false, ENCODING 'UTF8');
INSERT INTO "<place>"."items" ("id", "name", "doc", "changed_at", "_sdc_deleted_at") SELECT c0, c1, c2, c3, c4 FROM sluice_batch;
COMMIT;
BEGIN;
CREATE TEMPORARY TABLE sluice_batch (c0 bigint, c1 text, c2 jsonb, c3 timestamp without time zone, c4 timestamp with time zone, c5 bigint, c6 text, sluice_row bigint GENERATED ALWAYS AS IDENTITY) ON COMMIT DROP;
COPY sluice_batch (c0, c1, c2, c3, c4, c5, c6) FROM STDIN (FORMAT csv, HEADER false, ENCODING 'UTF8');
INSERT INTO "<place>"."items" ("id", "name", "doc", "changed_at", "_sdc_deleted_at") SELECT c0, c1, c2, c3, c4 FROM sluice_batch;
COMMIT;

-- a column added at the source
SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; SET TimeZone = 'UTC'; SET extra_float_digits = 1; SET bytea_output = 'hex'; SET client_encoding = 'UTF8'; SET synchronous_commit = on;
SELECT 1 FROM pg_namespace WHERE nspname = $1;
CREATE SCHEMA IF NOT EXISTS "<place>";
SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum;
CREATE TABLE "<place>"."items" ("id" bigint, "name" text, "doc" jsonb, "changed_at" timestamp without time zone, PRIMARY KEY ("id"));
ALTER TABLE "<place>"."items" ADD COLUMN "_sdc_deleted_at" timestamp with time zone;
BEGIN;
CREATE TEMPORARY TABLE sluice_batch (c0 bigint, c1 text, c2 jsonb, c3 timestamp without time zone, c4 timestamp with time zone, c5 bigint, c6 text, sluice_row bigint GENERATED ALWAYS AS IDENTITY) ON COMMIT DROP;
COPY sluice_batch (c0, c1, c2, c3, c4, c5, c6) FROM STDIN (FORMAT csv, HEADER false, ENCODING 'UTF8');
CREATE TEMPORARY TABLE sluice_change ON COMMIT DROP AS SELECT DISTINCT ON (v0) v0, first_value(v1) OVER (PARTITION BY v0 ORDER BY sluice_carried_1 DESC, sluice_seq DESC) AS v1, first_value(v2) OVER (PARTITION BY v0 ORDER BY sluice_carried_2 DESC, sluice_seq DESC) AS v2, first_value(v3) OVER (PARTITION BY v0 ORDER BY sluice_carried_3 DESC, sluice_seq DESC) AS v3, sluice_deleted, sluice_seq, bool_or(sluice_carried_1) OVER (PARTITION BY v0) AS sluice_carried_1, bool_or(sluice_carried_2) OVER (PARTITION BY v0) AS sluice_carried_2, bool_or(sluice_carried_3) OVER (PARTITION BY v0) AS sluice_carried_3 FROM (SELECT c0 AS v0, c1 AS v1, c2 AS v2, c3 AS v3, c4 AS sluice_deleted, c5 AS sluice_seq, (c6 IS NULL OR position(',1,' in ',' || c6 || ',') = 0) AS sluice_carried_1, (c6 IS NULL OR position(',2,' in ',' || c6 || ',') = 0) AS sluice_carried_2, (c6 IS NULL OR position(',3,' in ',' || c6 || ',') = 0) AS sluice_carried_3 FROM sluice_batch) AS b ORDER BY v0, sluice_seq DESC;
INSERT INTO "<place>"."items" ("id", "name", "doc", "changed_at", "_sdc_deleted_at") SELECT s.v0, CASE WHEN s.sluice_carried_1 THEN s.v1 ELSE t."name" END, CASE WHEN s.sluice_carried_2 THEN s.v2 ELSE t."doc" END, CASE WHEN s.sluice_carried_3 THEN s.v3 ELSE t."changed_at" END, s.sluice_deleted FROM sluice_change AS s LEFT JOIN "<place>"."items" AS t ON t."id" = s.v0 ON CONFLICT ("id") DO UPDATE SET "name" = EXCLUDED."name", "doc" = EXCLUDED."doc", "changed_at" = EXCLUDED."changed_at", "_sdc_deleted_at" = EXCLUDED."_sdc_deleted_at";
COMMIT;

-- a second run into a table with metadata columns (nothing to alter)
SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; SET TimeZone = 'UTC'; SET extra_float_digits = 1; SET bytea_output = 'hex'; SET client_encoding = 'UTF8'; SET synchronous_commit = on;
SELECT 1 FROM pg_namespace WHERE nspname = $1;
CREATE SCHEMA IF NOT EXISTS "<place>";
SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum;
CREATE TABLE "<place>"."items" ("id" bigint, "name" text, "doc" jsonb, "changed_at" timestamp without time zone, "_sdc_extracted_at" timestamp with time zone, "_sdc_received_at" timestamp with time zone, "_sdc_batched_at" timestamp with time zone, "_sdc_deleted_at" timestamp with time zone, "_sdc_sequence" bigint, "_sdc_table_version" bigint, PRIMARY KEY ("id"));
BEGIN;
CREATE TEMPORARY TABLE sluice_batch (c0 bigint, c1 text, c2 jsonb, c3 timestamp without time zone, c4 timestamp with time zone, c5 bigint, c6 text, sluice_row bigint GENERATED ALWAYS AS IDENTITY) ON COMMIT DROP;
COPY sluice_batch (c0, c1, c2, c3, c4, c5, c6) FROM STDIN (FORMAT csv, HEADER false, ENCODING 'UTF8');
CREATE TEMPORARY TABLE sluice_change ON COMMIT DROP AS SELECT DISTINCT ON (v0) v0, first_value(v1) OVER (PARTITION BY v0 ORDER BY sluice_carried_1 DESC, sluice_seq DESC) AS v1, first_value(v2) OVER (PARTITION BY v0 ORDER BY sluice_carried_2 DESC, sluice_seq DESC) AS v2, first_value(v3) OVER (PARTITION BY v0 ORDER BY sluice_carried_3 DESC, sluice_seq DESC) AS v3, v4, v5, v6, v7, sluice_deleted, sluice_seq, bool_or(sluice_carried_1) OVER (PARTITION BY v0) AS sluice_carried_1, bool_or(sluice_carried_2) OVER (PARTITION BY v0) AS sluice_carried_2, bool_or(sluice_carried_3) OVER (PARTITION BY v0) AS sluice_carried_3 FROM (SELECT c0 AS v0, c1 AS v1, c2 AS v2, c3 AS v3, '2024-06-01T00:00:00.000Z'::timestamptz AS v4, '<now>'::timestamptz AS v5, transaction_timestamp() AS v6, 7 AS v7, c4 AS sluice_deleted, c5 AS sluice_seq, (c6 IS NULL OR position(',1,' in ',' || c6 || ',') = 0) AS sluice_carried_1, (c6 IS NULL OR position(',2,' in ',' || c6 || ',') = 0) AS sluice_carried_2, (c6 IS NULL OR position(',3,' in ',' || c6 || ',') = 0) AS sluice_carried_3 FROM sluice_batch) AS b ORDER BY v0, sluice_seq DESC;
INSERT INTO "<place>"."items" ("id", "name", "doc", "changed_at", "_sdc_extracted_at", "_sdc_received_at", "_sdc_batched_at", "_sdc_table_version", "_sdc_deleted_at", "_sdc_sequence") SELECT s.v0, CASE WHEN s.sluice_carried_1 THEN s.v1 ELSE t."name" END, CASE WHEN s.sluice_carried_2 THEN s.v2 ELSE t."doc" END, CASE WHEN s.sluice_carried_3 THEN s.v3 ELSE t."changed_at" END, s.v4, s.v5, s.v6, s.v7, s.sluice_deleted, s.sluice_seq FROM sluice_change AS s LEFT JOIN "<place>"."items" AS t ON t."id" = s.v0 ON CONFLICT ("id") DO UPDATE SET "name" = EXCLUDED."name", "doc" = EXCLUDED."doc", "changed_at" = EXCLUDED."changed_at", "_sdc_extracted_at" = EXCLUDED."_sdc_extracted_at", "_sdc_received_at" = EXCLUDED."_sdc_received_at", "_sdc_batched_at" = EXCLUDED."_sdc_batched_at", "_sdc_table_version" = EXCLUDED."_sdc_table_version", "_sdc_deleted_at" = EXCLUDED."_sdc_deleted_at", "_sdc_sequence" = EXCLUDED."_sdc_sequence";
COMMIT;
