/**
 * Everything the commands use when they run, imported once by `CliContext.runtime()` when a
 * command's action starts: the command files import only commander, node's modules, errors and
 * types at the top, so that `sluice --help` (and a usage error) loads none of it (issue: start-up
 * within 1.7x a bare `node -e 0`; `npm run bench` measures it).
 */
export { parse as parseYaml } from "yaml";
export { installPlugin } from "../connectors/external-singer/plugin-installer.js";
export { builtinPlugins, findBuiltinPlugin } from "../connectors/registry.js";
export { aboutText, readSingerConfig } from "../connectors/singer/singer-config.js";
export { runSingerTap } from "../connectors/singer/singer-tap.js";
export { runSingerTarget } from "../connectors/singer/singer-target.js";
export { airflowDagFile } from "../deploy/airflow-dag.js";
export { nextRunTime } from "../deploy/cron.js";
export { planDeployments } from "../deploy/deployment-plan.js";
export { writeGeneratedFiles } from "../deploy/generated-files.js";
export { kubernetesManifestFile } from "../deploy/kubernetes-cronjob.js";
export { checkPodOptions } from "../deploy/pod-options.js";
export { describeStep, describeSteps, findSchedule, scheduleSteps } from "../deploy/schedule-steps.js";
export { coerceSetting } from "../project/coerce-setting.js";
export { projectEnv } from "../project/env-file.js";
export { pluginShape } from "../project/plugin-config.js";
export { ProblemList } from "../project/problem-list.js";
export { ProjectFileEditor, setDotEnvVariable } from "../project/project-file-editor.js";
export { findProjectFile } from "../project/project-file.js";
export { initProject } from "../project/project-template.js";
export { redactConfig, secretValues } from "../project/redaction.js";
export { selectEnvironment } from "../project/select-environment.js";
export { describeSource, envPrefixOf, envVarName } from "../project/setting-values.js";
export { parseStoreUri, passwordOfUri } from "../project/system-database-uri.js";
export { stateIdFor } from "../project/state-id.js";
export { parseExactJson, toPlain } from "../protocol/exact-json.js";
export { fromMeltanoExport, toMeltanoExport } from "../protocol/meltano-state-export.js";
export { listSelection } from "../protocol/selection.js";
export { readSingerMessages } from "../protocol/singer-reader.js";
export { SingerWriter } from "../protocol/singer-writer.js";
export { mergedState, slotTieOf, toSingerState } from "../protocol/state.js";
export { createExtractor, createLoader } from "../runner/compose-pipeline.js";
export { invokeExternalPlugin } from "../runner/invoke-external-plugin.js";
export { planStreams, selectedCatalog } from "../runner/plan-streams.js";
export {
  openProject,
  openStores,
  resolveMapping,
  resolvePlugin,
  resolvePluginForRun,
} from "../runner/project-context.js";
export { runProjectPipeline } from "../runner/project-pipeline.js";
export { resolveRunBlocks } from "../runner/run-blocks.js";
export { runsBuiltIn } from "../connectors/stream-maps/builtin-mapper.js";
export { Scheduler, sleep } from "../runner/scheduler.js";
export { spoolBase, spoolDirFor, sweepAbandonedSpoolDirs } from "../runner/spool-dir.js";
export { readMeltanoStates } from "../state/meltano-system-database.js";
export { ABANDONED_RUN_ERROR } from "../state/run-history.js";
export { RunHistoryView } from "../ui/run-history-view.js";
export { UiServer } from "../ui/ui-server.js";
export { verifyStreams } from "../verify/verify-streams.js";
