import type { PluginConfig } from "../connector.js";

/** What running an external Singer tap or target needs, resolved from the project. */
export interface ExternalPlugin {
  /** The plugin's name in the project, in every message. */
  name: string;
  /** The program to start (a path into the plugin's virtualenv, a path, or a name on PATH). */
  executable: string;
  /** The folder it runs in (the project's, as Meltano), so relative paths in its config work. */
  cwd?: string;
  /** The settings, written as its `--config` file. */
  config: PluginConfig;
  /** The plugin's `env:`, added to the process's environment. */
  env: Readonly<Record<string, string>>;
  /**
   * `capabilities` of the project file, when it lists them: a tap with `properties` but not
   * `catalog` gets `--properties`; one that lists capabilities without `state` gets no `--state`.
   */
  capabilities?: readonly string[];
  /** Scrubs secrets out of what the plugin printed, before it is shown. */
  redact?: (text: string) => string;
  /** A line of the plugin's stderr (prefixed with its name), redacted by the log itself. */
  log?: (message: string) => void;
  /** Something odd in its output that does not stop the run (an unknown message type). */
  warn?: (message: string) => void;
}
