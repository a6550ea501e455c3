import { describe, expect, it } from "vitest";
import { nextCronTime, nextRunTime, parseCron, parseInterval } from "../../../src/deploy/cron.js";
import { ConfigError } from "../../../src/errors.js";

const at = (iso: string): Date => new Date(iso);
const next = (interval: string, after: string): string | undefined =>
  nextRunTime(interval, at(after))?.toISOString();

describe("parseCron", () => {
  it("reads values, lists, ranges and steps", () => {
    const cron = parseCron("0,30 9-17/2 1-5 * 1-5");
    expect(cron.minutes).toEqual([0, 30]);
    expect(cron.hours).toEqual([9, 11, 13, 15, 17]);
    expect(cron.daysOfMonth).toEqual([1, 2, 3, 4, 5]);
    expect(cron.months).toHaveLength(12);
    expect(cron.daysOfWeek).toEqual([1, 2, 3, 4, 5]);
  });

  it("reads */n and n/step (from n to the end)", () => {
    expect(parseCron("*/15 * * * *").minutes).toEqual([0, 15, 30, 45]);
    expect(parseCron("5/20 * * * *").minutes).toEqual([5, 25, 45]);
  });

  it("reads month and day names in any case, and 7 as Sunday", () => {
    const cron = parseCron("0 0 * JAN,jul-Sep sun,Sat");
    expect(cron.months).toEqual([1, 7, 8, 9]);
    expect(cron.daysOfWeek).toEqual([0, 6]);
    expect(parseCron("0 0 * * 7").daysOfWeek).toEqual([0]);
    expect(parseCron("0 0 * * mon-fri").daysOfWeek).toEqual([1, 2, 3, 4, 5]);
  });

  it("expands macros", () => {
    expect(parseCron("@daily").source).toBe("0 0 * * *");
    expect(parseCron("@weekly").daysOfWeek).toEqual([0]);
    expect(parseInterval("@once")).toEqual({ kind: "once" });
  });

  it.each([
    ["60 * * * *", /minute field "60": 60 is outside 0-59/],
    ["* 24 * * *", /hour field "24"/],
    ["* * 0 * *", /day of month field "0"/],
    ["* * * 13 *", /month field "13"/],
    ["* * * foo *", /month field "foo": "foo" is not a number or a name/],
    ["*/0 * * * *", /step "0"/],
    ["5-1 * * * *", /goes backwards/],
    ["* * * *", /has 4 fields/],
    ["1,,2 * * * *", /empty list item/],
    ["@fortnightly", /unknown interval @fortnightly/],
  ])("rejects %s, naming the field", (expression, message) => {
    expect(() => parseCron(expression)).toThrow(ConfigError);
    expect(() => parseCron(expression)).toThrow(message);
  });
});

describe("next run time (UTC)", () => {
  it("@hourly, @daily, @weekly, @monthly, @yearly", () => {
    expect(next("@hourly", "2026-03-10T10:15:00Z")).toBe("2026-03-10T11:00:00.000Z");
    expect(next("@daily", "2026-03-10T10:15:00Z")).toBe("2026-03-11T00:00:00.000Z");
    // 2026-03-10 is a Tuesday; the next Sunday is the 15th.
    expect(next("@weekly", "2026-03-10T10:15:00Z")).toBe("2026-03-15T00:00:00.000Z");
    expect(next("@monthly", "2026-12-31T23:59:59Z")).toBe("2027-01-01T00:00:00.000Z");
    expect(next("@yearly", "2026-03-10T10:15:00Z")).toBe("2027-01-01T00:00:00.000Z");
  });

  it("is strictly after the given time", () => {
    expect(next("0 2 * * *", "2026-03-10T02:00:00Z")).toBe("2026-03-11T02:00:00.000Z");
    expect(next("0 2 * * *", "2026-03-10T01:59:59.500Z")).toBe("2026-03-10T02:00:00.000Z");
  });

  it("steps and ranges within a day", () => {
    expect(next("*/15 9-17 * * *", "2026-03-10T17:46:00Z")).toBe("2026-03-11T09:00:00.000Z");
    expect(next("*/15 9-17 * * *", "2026-03-10T12:31:00Z")).toBe("2026-03-10T12:45:00.000Z");
  });

  it("weekdays by name", () => {
    // Friday 2026-03-13 after 18:00 → Monday the 16th.
    expect(next("30 6 * * mon-fri", "2026-03-13T18:00:00Z")).toBe("2026-03-16T06:30:00.000Z");
  });

  it("runs on either day when both day fields are restricted, as cron does", () => {
    // The 1st of the month or a Monday: after Tuesday 2026-03-10 comes Monday the 16th.
    expect(next("0 0 1 * 1", "2026-03-10T00:00:00Z")).toBe("2026-03-16T00:00:00.000Z");
    // ... and after Monday 2026-03-30 comes Wednesday 1 April.
    expect(next("0 0 1 * 1", "2026-03-30T00:00:00Z")).toBe("2026-04-01T00:00:00.000Z");
  });

  it("months by name, across the year end, and 29 February", () => {
    expect(next("0 0 1 jan,jul *", "2026-08-01T00:00:00Z")).toBe("2027-01-01T00:00:00.000Z");
    expect(next("0 12 29 2 *", "2026-03-01T00:00:00Z")).toBe("2028-02-29T12:00:00.000Z");
  });

  it("31st only in months that have one", () => {
    expect(next("0 0 31 * *", "2026-04-01T00:00:00Z")).toBe("2026-05-31T00:00:00.000Z");
  });

  it("a sixth field counts seconds (croniter)", () => {
    expect(next("* * * * * 30", "2026-03-10T10:15:40Z")).toBe("2026-03-10T10:16:30.000Z");
  });

  it("never for an impossible date, nothing for @once", () => {
    expect(nextCronTime(parseCron("0 0 30 2 *"), at("2026-01-01T00:00:00Z"))).toBeUndefined();
    expect(next("@once", "2026-01-01T00:00:00Z")).toBeUndefined();
  });
});
