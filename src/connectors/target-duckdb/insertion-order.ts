import type { DuckDBConnection } from "@duckdb/node-api";

/**
 * Keeps DuckDB's file readers in file order while a statement that numbers rows by it runs.
 * NOTE: `row_number() OVER ()` follows file order only under `preserve_insertion_order = true`
 * (DuckDB's "Order Preservation" page); the loader runs with it off (a third faster under a small
 * memory limit). The setting is global to the database instance, so writers share one switch:
 * on while any of them needs it (others' statements planned meanwhile are merely slower), off
 * when the last is done. Changes are chained so an "off" can never overtake a later "on".
 */
export class InsertionOrder {
  private users = 0;
  private switching: Promise<unknown> = Promise.resolve();

  async preserved<T>(connection: DuckDBConnection, statement: () => Promise<T>): Promise<T> {
    this.users += 1;
    if (this.users === 1) this.switchTo(connection, true);
    let failed = false;
    try {
      await this.switching;
      return await statement();
    } catch (error) {
      failed = true;
      throw error;
    } finally {
      this.users -= 1;
      // After a failed statement the transaction is aborted and the SET fails too: its error
      // ("Current transaction is aborted") must not hide the statement's own (out of memory...).
      if (this.users === 0) {
        const switched = this.switchTo(connection, false);
        await (failed ? switched.catch(() => undefined) : switched);
      }
    }
  }

  private switchTo(connection: DuckDBConnection, on: boolean): Promise<unknown> {
    this.switching = this.switching
      .catch(() => undefined)
      .then(() => connection.run(`SET preserve_insertion_order = ${on}`));
    return this.switching;
  }
}
