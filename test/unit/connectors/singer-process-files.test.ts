import fs from "node:fs";
import { expect, test } from "vitest";
import { PluginFiles } from "../../../src/connectors/external-singer/singer-process.js";

/** The config of an external plugin holds its passwords: only its owner may read it, and it goes. */
test("config, catalog and state files are private to the user and removed afterwards", () => {
  const files = new PluginFiles("tap-x/../odd name");
  const config = files.write("config.json", { password: "secret" });
  expect(fs.statSync(files.dir).mode & 0o777).toBe(0o700);
  expect(fs.statSync(config).mode & 0o777).toBe(0o600);
  expect(JSON.parse(fs.readFileSync(config, "utf8"))).toEqual({ password: "secret" });
  files.remove();
  expect(fs.existsSync(files.dir)).toBe(false);
});
