import { describe, expect, test } from "vitest";
import {
  identityChange,
  recordedIdentity,
  relationColumnChange,
  withIdentity,
  type IdentityColumn,
  type TableIdentity,
} from "../../../src/connectors/tap-postgres/cdc/table-identity.js";

// When changes can follow a LOG_BASED table and when it must be read again (the catalog's
// identity recorded by the copy against the one now). The engine-side scenarios are in
// test/integration/pipeline/log-based-ddl.test.ts.

const column = (name: string, extra: Partial<IdentityColumn> = {}): IdentityColumn => ({
  name,
  attnum: 1,
  typeOid: 23,
  typmod: -1,
  type: "integer",
  generated: "",
  hasDefault: false,
  ...extra,
});

const table: TableIdentity = {
  oid: 100,
  columns: [
    column("id"),
    column("code", { attnum: 2, typeOid: 1043, typmod: 14, type: "character varying(10)" }),
    column("amount", { attnum: 3, typeOid: 1700, typmod: 655366, type: "numeric(10,2)" }),
  ],
  partitions: ["201:301", "202:302"],
};

const changed = (edit: (t: TableIdentity) => TableIdentity): string | undefined =>
  identityChange(table, edit(structuredClone(table)));

describe("identityChange", () => {
  test("the same table, or one with a column dropped or added without a default, streams on", () => {
    expect(identityChange(table, table)).toBeUndefined();
    expect(changed((t) => ({ ...t, columns: t.columns.slice(0, 2) }))).toBeUndefined();
    expect(
      changed((t) => ({ ...t, columns: [...t.columns, column("note", { attnum: 4 })] })),
    ).toBeUndefined();
  });

  test("another oid: the table was created again", () => {
    expect(changed((t) => ({ ...t, oid: 101 }))).toMatch(/dropped and created again .*oid 100, now 101/);
  });

  test("a type or precision change is read again; only a longer varchar is not", () => {
    const retype = (name: string, edit: Partial<IdentityColumn>) => (t: TableIdentity) => ({
      ...t,
      columns: t.columns.map((c) => (c.name === name ? { ...c, ...edit } : c)),
    });
    expect(changed(retype("amount", { typmod: 786440, type: "numeric(12,4)" }))).toMatch(
      /column "amount" changed type from numeric\(10,2\) to numeric\(12,4\)/,
    );
    expect(changed(retype("id", { typeOid: 20, type: "bigint" }))).toMatch(/column "id" changed type/);
    expect(changed(retype("code", { typmod: 24, type: "character varying(20)" }))).toBeUndefined();
    expect(changed(retype("code", { typmod: -1, type: "character varying" }))).toBeUndefined();
    expect(changed(retype("code", { typmod: 9, type: "character varying(5)" }))).toMatch(/column "code"/);
    expect(changed(retype("amount", { generated: "s" }))).toMatch(/column "amount" became generated/);
    expect(changed(retype("amount", { attnum: 9 }))).toMatch(/column "amount" was dropped and added again/);
  });

  test("a column added with a default or generated is read again", () => {
    const add = (extra: Partial<IdentityColumn>) => (t: TableIdentity) => ({
      ...t,
      columns: [...t.columns, column("status", { attnum: 4, ...extra })],
    });
    expect(changed(add({ hasDefault: true }))).toMatch(/column "status" was added with a default/);
    expect(changed(add({ generated: "s", hasDefault: true }))).toMatch(/with a generation expression/);
  });

  test("partitions truncated, attached or detached are read again", () => {
    expect(changed((t) => ({ ...t, partitions: ["201:301", "202:999"] }))).toMatch(
      /a partition was truncated/,
    );
    expect(changed((t) => ({ ...t, partitions: ["201:301"] }))).toMatch(/attached or detached/);
    expect(changed((t) => ({ ...t, partitions: [...t.partitions, "203:303"] }))).toMatch(
      /attached or detached/,
    );
  });
});

describe("a Relation message's columns", () => {
  test("are held to the same type rule", () => {
    const base = { key: false, name: "amount", typeOid: 1700 };
    expect(relationColumnChange(table, { ...base, typmod: 655366 })).toBeUndefined();
    expect(relationColumnChange(table, { ...base, typmod: 786440 })).toMatch(/column "amount" changed type/);
    expect(relationColumnChange(table, { ...base, name: "new", typmod: 1 })).toBeUndefined();
  });
});

describe("the bookmark", () => {
  test("carries the identity through JSON", () => {
    const bookmark = withIdentity({ lsn: 42, version: 7, last_replication_method: "LOG_BASED" }, table);
    expect(recordedIdentity(bookmark)).toEqual(table);
    expect(recordedIdentity(JSON.parse(JSON.stringify(bookmark)))).toEqual(table);
    // A bookmark of a version that did not record it: nothing to compare.
    expect(recordedIdentity({ lsn: 42 })).toBeUndefined();
  });
});
