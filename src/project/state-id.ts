/**
 * The state id of a pipeline, in Meltano's format so that state exported from Meltano is found:
 * `<environment>:<extractor>-to-<loader>`, or `<extractor>-to-<loader>` outside any environment.
 * An environment's `state_id_suffix` is appended as `:<suffix>`, as Meltano does.
 */
export function stateIdFor(
  environment: string | undefined,
  extractor: string,
  loader: string,
  suffix?: string,
): string {
  const base = `${extractor}-to-${loader}`;
  const withEnvironment = environment === undefined || environment === "" ? base : `${environment}:${base}`;
  return suffix === undefined || suffix === "" ? withEnvironment : `${withEnvironment}:${suffix}`;
}
