import { describe, expect, test } from "vitest";
import { LoadWindow } from "../../../src/runner/load-window.js";

/** A promise the test settles when it chooses: a load that ends (or fails) on cue. */
function gate(): { promise: Promise<void>; open: () => void; fail: (error: Error) => void } {
  let open!: () => void;
  let fail!: (error: Error) => void;
  const promise = new Promise<void>((resolve, reject) => {
    open = resolve;
    fail = reject;
  });
  return { promise, open, fail };
}

describe("LoadWindow", () => {
  test("runs at most `size` loads at once; add waits for a free place", async () => {
    const window = new LoadWindow(2, () => undefined);
    let running = 0;
    let most = 0;
    const gates = [gate(), gate(), gate()];
    const load = (i: number) => async (): Promise<void> => {
      running += 1;
      most = Math.max(most, running);
      await gates[i]!.promise;
      running -= 1;
    };
    await window.add(load(0));
    await window.add(load(1));
    let thirdStarted = false;
    const third = window.add(load(2)).then(() => (thirdStarted = true));
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(thirdStarted, "a third load started while two ran").toBe(false);
    gates[0]!.open();
    await third;
    gates[1]!.open();
    gates[2]!.open();
    await window.drain();
    expect(most).toBe(2);
    expect(running).toBe(0);
  });

  test("the first failure is reported once, thrown by the next add and by drain; loads already running finish", async () => {
    let stops = 0;
    const window = new LoadWindow(2, () => (stops += 1));
    const slow = gate();
    let slowFinished = false;
    await window.add(async () => {
      await slow.promise;
      slowFinished = true;
    });
    const failing = gate();
    await window.add(() => failing.promise);
    failing.fail(new Error("batch 2 failed"));
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(stops).toBe(1);
    expect(window.failed?.error).toEqual(new Error("batch 2 failed"));
    let started = false;
    await expect(window.add(async () => void (started = true))).rejects.toThrow("batch 2 failed");
    expect(started, "no load starts after a failure").toBe(false);

    const settled = window.settle();
    slow.open();
    await settled;
    expect(slowFinished).toBe(true);
    await expect(window.drain()).rejects.toThrow("batch 2 failed");
    expect(stops).toBe(1);
  });

  test("with size 1, loads run one after another in order", async () => {
    const window = new LoadWindow(1, () => undefined);
    const order: string[] = [];
    for (const name of ["a", "b", "c"]) {
      await window.add(async () => {
        order.push(`${name} start`);
        await new Promise((resolve) => setTimeout(resolve, 1));
        order.push(`${name} end`);
      });
    }
    await window.drain();
    expect(order).toEqual(["a start", "a end", "b start", "b end", "c start", "c end"]);
  });
});
