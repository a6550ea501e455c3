/**
 * How many cases a property test tries: its CI default, or SLUICE_PROPERTY_RUNS for a longer
 * local hunt (e.g. `SLUICE_PROPERTY_RUNS=500 npx vitest run test/integration/hostile/`). A run
 * count above the default scales every property test of this folder alike.
 */
export function propertyRuns(ciDefault: number): number {
  const setting = process.env.SLUICE_PROPERTY_RUNS;
  if (setting === undefined || setting === "") return ciDefault;
  const runs = Number(setting);
  if (!Number.isInteger(runs) || runs < 1) {
    throw new Error(`SLUICE_PROPERTY_RUNS must be a positive integer, not "${setting}"`);
  }
  return runs;
}
