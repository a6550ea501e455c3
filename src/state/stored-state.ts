import { StateError, messageOf } from "../errors.js";
import { toSingerState, type SingerState } from "../protocol/state.js";

/** The JSON text a store writes for `state`, refused early (before any write) when it is not JSON. */
export function serializeState(stateId: string, state: SingerState): string {
  try {
    // Validates the shape the same way a read does, so we never store what we could not read back.
    toSingerState(state);
    return JSON.stringify(state);
  } catch (error) {
    throw new StateError(`the state of "${stateId}" cannot be stored as JSON: ${messageOf(error)}`, {
      cause: error,
    });
  }
}

/** Reads a stored value (JSON text, or a value a driver already parsed) back as a Singer state. */
export function parseStoredState(stateId: string, stored: unknown, where: string): SingerState {
  try {
    return toSingerState(typeof stored === "string" ? JSON.parse(stored) : stored);
  } catch (error) {
    throw new StateError(
      `the state of "${stateId}" in ${where} is not a valid Singer state: ${messageOf(error)}`,
      { cause: error },
    );
  }
}
