import { ConfigError } from "../errors.js";

/**
 * Schedule intervals as meltano.yml writes them: a cron expression of 5 fields (minute, hour,
 * day of month, month, day of week), optionally a 6th for seconds (croniter's, which Meltano and
 * Airflow use), or one of `@hourly`, `@daily`, `@weekly`, `@monthly`, `@yearly`, `@once`.
 * Times are computed in UTC, as Airflow and Kubernetes CronJobs do by default.
 */

/** One parsed cron expression: the allowed values of each field. */
export interface CronExpression {
  /** The text it was parsed from (the macro expanded). */
  source: string;
  seconds: readonly number[];
  minutes: readonly number[];
  hours: readonly number[];
  daysOfMonth: readonly number[];
  months: readonly number[];
  /** 0 = Sunday ... 6 = Saturday (7 is read as Sunday). */
  daysOfWeek: readonly number[];
  /** Cron's rule: when both day fields are restricted, a day matching either one runs. */
  dayOfMonthRestricted: boolean;
  dayOfWeekRestricted: boolean;
}

/** What a schedule's interval means: a cron expression, or run once. */
export type ScheduleInterval = { kind: "cron"; cron: CronExpression } | { kind: "once" };

export const INTERVAL_MACROS: Readonly<Record<string, string>> = {
  "@yearly": "0 0 1 1 *",
  "@annually": "0 0 1 1 *",
  "@monthly": "0 0 1 * *",
  "@weekly": "0 0 * * 0",
  "@daily": "0 0 * * *",
  "@midnight": "0 0 * * *",
  "@hourly": "0 * * * *",
};

const MONTH_NAMES = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const DAY_NAMES = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

interface FieldSpec {
  name: string;
  min: number;
  max: number;
  /** Names accepted for values, lower case, the first one meaning `min`. */
  names?: readonly string[];
}

const FIELDS: readonly FieldSpec[] = [
  { name: "minute", min: 0, max: 59 },
  { name: "hour", min: 0, max: 23 },
  { name: "day of month", min: 1, max: 31 },
  { name: "month", min: 1, max: 12, names: MONTH_NAMES },
  { name: "day of week", min: 0, max: 7, names: DAY_NAMES },
];
const SECONDS_FIELD: FieldSpec = { name: "second", min: 0, max: 59 };

/** Parses an interval; a ConfigError naming the field and the value when it is not valid. */
export function parseInterval(interval: string): ScheduleInterval {
  const text = interval.trim().toLowerCase();
  if (text === "@once") return { kind: "once" };
  return { kind: "cron", cron: parseCron(text) };
}

/** Parses a cron expression (5 fields, or 6 with seconds last) or a macro such as `@daily`. */
export function parseCron(expression: string): CronExpression {
  const trimmed = expression.trim();
  const macro = INTERVAL_MACROS[trimmed.toLowerCase()];
  if (trimmed.startsWith("@") && macro === undefined) {
    throw new ConfigError(
      `unknown interval ${trimmed}: use @hourly, @daily, @weekly, @monthly, @yearly, @once or a cron expression`,
    );
  }
  const source = macro ?? trimmed;
  const parts = source.split(/\s+/);
  if (parts.length !== 5 && parts.length !== 6) {
    throw new ConfigError(
      `cron expression "${trimmed}" has ${parts.length} fields; expected 5 (minute hour day-of-month month day-of-week)`,
    );
  }
  const values = FIELDS.map((spec, index) => parseField(parts[index]!, spec, trimmed));
  const seconds = parts.length === 6 ? parseField(parts[5]!, SECONDS_FIELD, trimmed) : [0];
  const daysOfWeek = [...new Set(values[4]!.map((day) => day % 7))].sort((a, b) => a - b);
  return {
    source,
    seconds,
    minutes: values[0]!,
    hours: values[1]!,
    daysOfMonth: values[2]!,
    months: values[3]!,
    daysOfWeek,
    dayOfMonthRestricted: !isWildcard(parts[2]!),
    dayOfWeekRestricted: !isWildcard(parts[4]!),
  };
}

function isWildcard(field: string): boolean {
  return field === "*" || field === "?";
}

function parseField(field: string, spec: FieldSpec, expression: string): number[] {
  const fail = (why: string): never => {
    throw new ConfigError(`cron expression "${expression}": ${spec.name} field "${field}": ${why}`);
  };
  const values = new Set<number>();
  for (const item of field.split(",")) {
    if (item === "") fail("empty list item");
    const [range, stepText, extra] = item.split("/");
    if (extra !== undefined) fail("more than one `/`");
    let step = 1;
    if (stepText !== undefined) {
      if (!/^\d+$/.test(stepText) || Number(stepText) === 0)
        fail(`step "${stepText}" is not a positive number`);
      step = Number(stepText);
    }
    let low: number;
    let high: number;
    if (range === "*" || range === "?") {
      low = spec.min;
      high = spec.max;
    } else {
      const bounds = range!.split("-");
      if (bounds.length > 2 || bounds.some((b) => b === "")) fail(`"${range}" is not a value or a range`);
      low = parseValue(bounds[0]!, spec, fail);
      // `5/15` means from 5 to the end in steps of 15, as in Vixie cron.
      high =
        bounds.length === 2 ? parseValue(bounds[1]!, spec, fail) : stepText !== undefined ? spec.max : low;
      if (high < low) fail(`range ${range} goes backwards`);
    }
    for (let value = low; value <= high; value += step) values.add(value);
  }
  return [...values].sort((a, b) => a - b);
}

function parseValue(text: string, spec: FieldSpec, fail: (why: string) => never): number {
  const byName = spec.names?.indexOf(text.toLowerCase()) ?? -1;
  if (byName >= 0) return spec.min + byName;
  if (!/^\d+$/.test(text)) {
    return fail(
      spec.names
        ? `"${text}" is not a number or a name (${spec.names.join(", ")})`
        : `"${text}" is not a number`,
    );
  }
  const value = Number(text);
  if (value < spec.min || value > spec.max) fail(`${value} is outside ${spec.min}-${spec.max}`);
  return value;
}

function dayMatches(cron: CronExpression, date: Date): boolean {
  const dom = cron.daysOfMonth.includes(date.getUTCDate());
  const dow = cron.daysOfWeek.includes(date.getUTCDay());
  if (cron.dayOfMonthRestricted && cron.dayOfWeekRestricted) return dom || dow;
  return dom && dow;
}

/**
 * The first time strictly after `after` that `cron` fires, in UTC; undefined when it never does
 * (`0 0 30 2 *`: February has no 30th). Searches at most five years ahead, which covers every
 * expression that can fire (29 February included).
 */
export function nextCronTime(cron: CronExpression, after: Date): Date | undefined {
  // Start at the next whole second.
  const start = new Date(Math.floor(after.getTime() / 1000) * 1000 + 1000);
  const limit = start.getTime() + 5 * 366 * 24 * 3600 * 1000;
  const t = new Date(start);
  while (t.getTime() <= limit) {
    if (!cron.months.includes(t.getUTCMonth() + 1)) {
      t.setUTCMonth(t.getUTCMonth() + 1, 1);
      t.setUTCHours(0, 0, 0, 0);
      continue;
    }
    if (!dayMatches(cron, t)) {
      t.setUTCDate(t.getUTCDate() + 1);
      t.setUTCHours(0, 0, 0, 0);
      continue;
    }
    if (!cron.hours.includes(t.getUTCHours())) {
      t.setUTCHours(t.getUTCHours() + 1, 0, 0, 0);
      continue;
    }
    if (!cron.minutes.includes(t.getUTCMinutes())) {
      t.setUTCMinutes(t.getUTCMinutes() + 1, 0, 0);
      continue;
    }
    const second = cron.seconds.find((s) => s >= t.getUTCSeconds());
    if (second === undefined) {
      t.setUTCMinutes(t.getUTCMinutes() + 1, 0, 0);
      continue;
    }
    t.setUTCSeconds(second, 0);
    return t;
  }
  return undefined;
}

/** The next run of an interval after `after`; undefined for `@once` and for a cron that never fires. */
export function nextRunTime(interval: string, after: Date): Date | undefined {
  const parsed = parseInterval(interval);
  return parsed.kind === "once" ? undefined : nextCronTime(parsed.cron, after);
}
