import { setTimeout as sleep } from "node:timers/promises";
import { expect } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../support/pg.js";
import { describeResult, type CliResult } from "../../support/run-cli.js";
import { DUCKDB_FILE, projectSpec, TestProject, type PluginSpec } from "../../support/test-project.js";
import { datasetName, type BigqueryTarget } from "../connectors/bigquery-harness.js";
import {
  isRun,
  type DriftLoader,
  type DriftServer,
  type ReplicationMethod,
  type RunStep,
  type Scenario,
} from "./drift-scenario.js";
import {
  bigqueryReader,
  describeDrift,
  duckdbReader,
  postgresReader,
  readSourceTable,
  sourceTables,
  type WarehouseReader,
} from "./table-snapshot.js";

/** One way to play a scenario. */
export interface DriftCase {
  method: ReplicationMethod;
  loader: DriftLoader;
  server: DriftServer;
  /** The emulator target, for `loader: "bigquery"`. */
  bigquery?: BigqueryTarget;
}

const LOADER_PLUGIN: Record<DriftLoader, string> = {
  duckdb: "target-duckdb",
  postgres: "target-postgres",
  bigquery: "target-bigquery",
};

/** What a played scenario leaves for the caller to look at (the model-based test reuses it). */
export interface DriftPlay {
  source: TestDatabase;
  project: TestProject;
  stateId: string;
  /** Runs `sluice run` as a step says and checks its outcome; returns the problems found after it. */
  run(step: RunStep["run"], label: string): Promise<string[]>;
  /** Every table of the source (or `tables`) compared with the warehouse. */
  compare(tables?: string[]): Promise<string[]>;
  close(): Promise<void>;
}

/**
 * Sets up a source database (on `server`), a warehouse of `loader` and a project reading one into
 * the other by `method`; the project file is written again before every run, so that tables a
 * step creates get their INCREMENTAL replication key.
 */
export async function openDrift(
  scenario: Pick<Scenario, "name" | "setup" | "replicationKeys" | "tap" | "timeZone" | "mayRefuse">,
  drift: DriftCase,
): Promise<DriftPlay> {
  const source = await createTestDatabase("drift", { server: drift.server });
  let warehouse: TestDatabase | undefined;
  const project = new TestProject({
    prefix: "sluice-drift-",
    env: { TAP_POSTGRES_PASSWORD: source.password },
  });
  const close = async (): Promise<void> => {
    await dropSlots(source);
    await source.drop();
    await warehouse?.drop();
    project.remove();
  };
  try {
    if (scenario.timeZone)
      await source.query(`ALTER DATABASE "${source.name}" SET TimeZone = '${scenario.timeZone}'`);
    await source.query(scenario.setup);
    let loader: PluginSpec;
    let reader: WarehouseReader;
    if (drift.loader === "duckdb") {
      loader = { name: "target-duckdb", config: { path: DUCKDB_FILE } };
      reader = duckdbReader(project.file(DUCKDB_FILE));
    } else if (drift.loader === "postgres") {
      warehouse = await createTestDatabase("driftwh");
      project.env.TARGET_POSTGRES_PASSWORD = warehouse.password;
      loader = {
        name: "target-postgres",
        variant: "transferwise",
        config: { host: warehouse.host, port: warehouse.port, user: warehouse.user, dbname: warehouse.name },
      };
      reader = postgresReader(warehouse.url);
    } else {
      const target = drift.bigquery;
      if (!target) throw new Error("a bigquery drift case needs the emulator's target");
      const dataset = datasetName("drift");
      // max_staleness 0: every query sees every change sent (with a staleness, BigQuery may show
      // a table up to that old, by design; the comparison after a run would see it so).
      loader = {
        name: "target-bigquery",
        config: { ...target.config, dataset_id: dataset, location: "US", max_staleness: "0" },
      };
      reader = bigqueryReader(target, dataset);
    }
    const stateId = `dev:tap-postgres-to-${LOADER_PLUGIN[drift.loader]}`;

    const writeProject = async (): Promise<void> => {
      const tables = await sourceTables(source.url);
      const metadata =
        drift.method === "INCREMENTAL"
          ? Object.fromEntries(
              tables.map((t) => [
                `public-${t}`,
                {
                  "replication-method": "INCREMENTAL",
                  "replication-key": scenario.replicationKeys?.[t] ?? "updated_at",
                },
              ]),
            )
          : undefined;
      const spec = projectSpec(source, {
        tap: {
          default_replication_method: drift.method,
          logical_commit_seconds: 0,
          ...scenario.tap,
        },
        ...(metadata ? { metadata } : {}),
      });
      spec.plugins.loaders = [loader];
      project.write(spec);
    };

    const compare = async (tables?: string[]): Promise<string[]> => {
      const names = tables ?? (await sourceTables(source.url));
      const problems: string[] = [];
      for (const table of names) {
        const expected = await readSourceTable(source.url, table);
        problems.push(...describeDrift(expected, await reader(expected)));
      }
      return problems;
    };

    const run = async (step: RunStep["run"], label: string): Promise<string[]> => {
      await writeProject();
      const args = [
        "--log-format",
        "json",
        "run",
        "tap-postgres",
        LOADER_PLUGIN[drift.loader],
        ...(step.fullRefresh ? ["--full-refresh"] : []),
        ...(step.select ? ["--select", ...step.select.map((t) => `public-${t}`)] : []),
      ];
      const stateBefore = project.storedState(stateId);
      const slotBefore = await slotPosition(source);
      let result: CliResult;
      if (step.kill) {
        const child = project.start(args, { timeoutMs: 120_000 });
        const event = step.kill === "sigkill-mid-copy" ? '"event":"batch-loaded"' : '"event":"run-started"';
        while (child.child.exitCode === null && !child.output().stderr.includes(event)) await sleep(5);
        child.child.kill("SIGKILL");
        result = await child.done;
        // The killed run's walsender lets go of the slot a moment after the process is gone.
        await waitForSlotRelease(source);
        // A killed run may leave the warehouse behind the source, never holding a key twice.
        const names = step.select ?? (await sourceTables(source.url));
        const problems: string[] = [];
        for (const table of names) {
          const expected = await readSourceTable(source.url, table);
          const held = await reader(expected);
          if (held.duplicates.length > 0) {
            problems.push(
              `${table}: keys held twice after ${label}: ${held.duplicates.slice(0, 4).join(", ")}`,
            );
          }
        }
        return problems;
      }
      result = await project.run(args, { timeoutMs: 120_000 });
      if (step.fails) {
        expect(result.code, `${label} should fail\n${describeResult(result)}`).not.toBe(0);
        expect(result.stderr, `${label}: the message`).toMatch(step.fails);
        expect(project.storedState(stateId), `${label}: a refused run must not move the state`).toEqual(
          stateBefore,
        );
        const slotAfter = await slotPosition(source);
        expect(slotAfter, `${label}: a refused run must not move the slot`).toBe(slotBefore);
        return [];
      }
      if (result.code !== 0 && scenario.mayRefuse && !step.fullRefresh) {
        const names = step.select ?? (await sourceTables(source.url));
        const named = names.some((t) => new RegExp(`\\b${t}\\b`).test(result.stderr));
        expect(
          named,
          `${label} refused without naming a table of ${names.join(", ")}\n${describeResult(result)}`,
        ).toBe(true);
        expect(
          project.storedState(stateId),
          `${label}: a refused run must not move the state\n${describeResult(result)}`,
        ).toEqual(stateBefore);
        expect(await slotPosition(source), `${label}: a refused run must not move the slot`).toBe(slotBefore);
        return run({ ...step, fullRefresh: true }, `${label}, refused, then --full-refresh`);
      }
      expect(result.code, `${label}\n${describeResult(result)}`).toBe(0);
      return compare(step.select);
    };

    return { source, project, stateId, run, compare, close };
  } catch (error) {
    await close();
    throw error;
  }
}

/**
 * Plays `scenario` one way: its setup, then its steps in order, comparing the warehouse with the
 * source after every run. Fails with every divergence of the first run that had any.
 */
export async function playScenario(scenario: Scenario, drift: DriftCase): Promise<void> {
  const play = await openDrift(scenario, drift);
  try {
    let runs = 0;
    for (const [index, step] of scenario.steps.entries()) {
      if (step.methods && !step.methods.includes(drift.method)) continue;
      if (!isRun(step)) {
        await play.source.query(step.sql);
        continue;
      }
      runs++;
      const label = `run ${runs} (step ${index + 1}${describeRun(step.run)})`;
      const problems = await play.run(step.run, label);
      expect(
        problems,
        `${scenario.name} [${drift.method}, ${drift.loader}, ${drift.server}] after ${label}`,
      ).toEqual([]);
    }
  } finally {
    await play.close();
  }
}

function describeRun(run: RunStep["run"]): string {
  const parts = [
    run.select ? `--select ${run.select.join(" ")}` : "",
    run.fullRefresh ? "--full-refresh" : "",
    run.kill ?? "",
    run.fails ? "expected to fail" : "",
  ].filter((p) => p !== "");
  return parts.length > 0 ? `: ${parts.join(", ")}` : "";
}

async function slotPosition(db: TestDatabase): Promise<string | undefined> {
  const rows = await db.query<{ lsn: string | null }>(
    "SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE database = current_database() AND NOT temporary ORDER BY slot_name",
  );
  return rows.map((r) => r.lsn ?? "").join(",") || undefined;
}

async function waitForSlotRelease(db: TestDatabase): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const active = await db.query(
      "SELECT 1 FROM pg_replication_slots WHERE database = current_database() AND active",
    );
    if (active.length === 0) return;
    await sleep(100);
  }
}

/** Slots keep a database from being dropped; a test's own are dropped with it. */
async function dropSlots(db: TestDatabase): Promise<void> {
  await waitForSlotRelease(db).catch(() => undefined);
  await db
    .query(
      "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = current_database() AND NOT active",
    )
    .catch(() => undefined);
}
