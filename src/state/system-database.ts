import type { RunHistory } from "./run-history.js";
import type { StateStore } from "./state-store.js";

/**
 * One system database (SQLite or PostgreSQL) playing both roles. The roles are separate objects
 * because their methods share names (`get`, `list`) with different meanings. Closing either role,
 * or the database, closes the database; closing twice is harmless.
 */
export interface SystemDatabase {
  readonly stateStore: StateStore;
  readonly runHistory: RunHistory;
  close(): Promise<void>;
}
