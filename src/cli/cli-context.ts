import { SecretRedactor } from "../project/redaction.js";
import type { ProjectContext } from "../runner/project-context.js";
import type * as RuntimeModule from "./runtime.js";

/** What `CliContext.runtime()` gives: the modules commands use when they run (runtime.ts). */
export type Runtime = typeof RuntimeModule;
import { Output, type LogFormat, type LogLevel } from "./output.js";

/** Options every command accepts. */
export interface GlobalOptions {
  projectDir?: string;
  environment?: string;
  logFormat?: LogFormat;
  logLevel?: LogLevel;
}

/** What a command gets: output with secrets scrubbed, and the project opened on demand. */
export class CliContext {
  readonly redactor = new SecretRedactor();
  readonly output: Output;
  private project: ProjectContext | undefined;

  constructor(readonly options: GlobalOptions) {
    this.output = new Output({
      ...(options.logFormat ? { format: options.logFormat } : {}),
      ...(options.logLevel ? { level: options.logLevel } : {}),
      redact: (text) => this.redactor.redact(text),
    });
  }

  get projectDir(): string {
    return this.options.projectDir ?? process.env.SLUICE_PROJECT_ROOT ?? process.cwd();
  }

  /** What the commands use when they run, loaded on first use (see runtime.ts). */
  runtime(): Promise<Runtime> {
    return import("./runtime.js");
  }

  async openProject(): Promise<ProjectContext> {
    const { openProject } = await this.runtime();
    this.project ??= openProject(this.projectDir, {
      redactor: this.redactor,
      warn: (message) => this.output.warn(message),
      ...(this.options.environment !== undefined ? { environment: this.options.environment } : {}),
    });
    return this.project;
  }
}
