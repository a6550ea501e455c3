import { ConfigError, DataError } from "../../errors.js";
import type { JsonSchema } from "../../protocol/catalog.js";
import { JsonObject, stringifyExact, type JsonValue } from "../../protocol/exact-json.js";
import type { RecordMessage, SchemaMessage } from "../../protocol/singer-messages.js";
import {
  formatActivateVersionMessage,
  formatRecordMessage,
  formatSchemaMessage,
} from "../../protocol/singer-messages.js";
import type { ReadMessage } from "../../protocol/singer-reader.js";
import { suggestionSuffix } from "../../project/did-you-mean.js";
import { DELETED_AT_COLUMN } from "../batch.js";
import { evaluateExpression, MapEvaluationError, toJson } from "./evaluate-expression.js";
import { filterOutcome } from "./filter-outcome.js";
import { propertiesRead } from "./map-expression.js";
import { ExpressionTypeError, schemaOfExpression } from "./schema-of-expression.js";
import {
  EXTERNAL_HINT,
  identityPlan,
  type CompiledExpression,
  type CompiledMapping,
  type StreamMapPlan,
} from "./stream-maps-config.js";

/** An output stream as its SCHEMA made it. */
interface OutputStream {
  plan: StreamMapPlan;
  /** A change stream (its SCHEMA has `_sdc_deleted_at`): a row the filter rejects is deleted. */
  changes: boolean;
  identity: boolean;
}

/**
 * Applies a compiled mapping to a stream of Singer messages, as meltano-map-transformer would
 * between a tap and a target:
 * - SCHEMA: each output stream's schema (removed properties gone, computed ones typed as
 *   `schemaOfExpression` says, `__key_properties__` applied); a property an expression reads that
 *   the input stream lacks, or a key property removed, is a ConfigError before any row moves.
 * - RECORD: `__filter__` and every expression see the input record. A row the filter rejects is
 *   dropped; in a change stream (sluice's LOG_BASED, whose SCHEMA has `_sdc_deleted_at`) it is
 *   sent as a delete of its key instead, so that a row that stops matching leaves the warehouse
 *   rather than staying stale. A delete passes whatever the filter says. A computed property
 *   whose inputs the change did not carry (an unchanged TOASTed value) is not carried either.
 * - ACTIVATE_VERSION goes to each output stream; STATE passes unchanged.
 * A stream the mapping does not touch passes line for line, unparsed by anything here.
 */
export async function* applyStreamMaps(
  mapping: CompiledMapping,
  messages: AsyncIterable<ReadMessage>,
): AsyncGenerator<ReadMessage> {
  const outputs = new Map<string, OutputStream[]>();
  const plansOf = (stream: string): StreamMapPlan[] =>
    mapping.byInput.get(stream) ?? (mapping.dropUnlisted ? [] : [identityPlan(stream)]);
  for await (const read of messages) {
    const { message } = read;
    switch (message.type) {
      case "STATE":
        yield read;
        break;
      case "SCHEMA": {
        const streams = plansOf(message.stream).map((plan) => ({
          plan,
          identity: isIdentity(plan),
          changes: Object.prototype.hasOwnProperty.call(message.schema.properties ?? {}, DELETED_AT_COLUMN),
        }));
        outputs.set(message.stream, streams);
        for (const output of streams) {
          if (output.identity) yield read;
          else yield schemaMessage(mapping, output.plan, message, read.line);
        }
        break;
      }
      case "ACTIVATE_VERSION":
        for (const output of outputs.get(message.stream) ?? plansOf(message.stream).map(planOnly)) {
          if (output.identity) yield read;
          else
            yield {
              message: { ...message, stream: output.plan.output },
              line: read.line,
              text: formatActivateVersionMessage(output.plan.output, message.version),
            };
        }
        break;
      case "RECORD":
        for (const output of outputs.get(message.stream) ?? plansOf(message.stream).map(planOnly)) {
          if (output.identity) {
            yield read;
            continue;
          }
          const mapped = mapRecord(mapping, output, message, read.line);
          if (mapped) yield mapped;
        }
        break;
      case "BATCH": {
        const plans = plansOf(message.stream);
        if (plans.length === 1 && isIdentity(plans[0]!)) {
          yield read;
          break;
        }
        throw new DataError(
          `mapping "${mapping.name}": line ${read.line}: BATCH messages of "${message.stream}" cannot be mapped built in; ${EXTERNAL_HINT}`,
        );
      }
    }
  }
}

/** A plan that changes nothing: its stream's lines pass as they are. */
function isIdentity(plan: StreamMapPlan): boolean {
  return (
    plan.input === plan.output &&
    plan.computed.size === 0 &&
    plan.dropped.size === 0 &&
    !plan.dropOthers &&
    plan.filter === undefined &&
    plan.keyProperties === undefined
  );
}

/** An output stream before its SCHEMA was seen (the target will refuse its records anyway). */
function planOnly(plan: StreamMapPlan): OutputStream {
  return { plan, changes: false, identity: isIdentity(plan) };
}

export function schemaMessage(
  mapping: CompiledMapping,
  plan: StreamMapPlan,
  message: SchemaMessage,
  line: number,
): ReadMessage {
  const at = `mapping "${mapping.name}", stream "${plan.output}"${plan.output !== plan.input ? ` (from "${plan.input}")` : ""}`;
  const input = message.schema.properties ?? {};
  const known = Object.keys(input);
  const check = (property: string, compiled: CompiledExpression): void => {
    for (const name of propertiesRead(compiled.expression)) {
      if (!(name in input)) {
        throw new ConfigError(
          `${at}: ${property}: \`${compiled.text}\` reads "${name}", which stream "${plan.input}" does not have${suggestionSuffix(name, known)} (its properties: ${known.join(", ")})`,
        );
      }
    }
  };
  if (plan.filter) check("__filter__", plan.filter);
  const properties: Record<string, JsonSchema> = {};
  for (const [name, schema] of Object.entries(input)) {
    if (plan.dropped.has(name)) continue;
    if (plan.dropOthers && !plan.computed.has(name) && name !== DELETED_AT_COLUMN) continue;
    properties[name] = schema;
  }
  for (const [name, compiled] of plan.computed) {
    check(name, compiled);
    try {
      properties[name] = schemaOfExpression(compiled.expression, input, mapping.streamMapConfig);
    } catch (error) {
      if (!(error instanceof ExpressionTypeError)) throw error;
      throw new ConfigError(`${at}: ${name}: \`${compiled.text}\`: ${error.message}`);
    }
  }
  const keyProperties = plan.keyProperties ?? message.keyProperties;
  const missing = keyProperties.filter((key) => !(key in properties));
  if (missing.length > 0) {
    throw new ConfigError(
      `${at}: key properties ${missing.join(", ")} are removed by the mapping; keep them, or name the new key with \`__key_properties__\``,
    );
  }
  const bookmarkProperties = message.bookmarkProperties?.filter((p) => p in properties);
  const mapped: SchemaMessage = {
    type: "SCHEMA",
    stream: plan.output,
    schema: { ...message.schema, properties },
    keyProperties,
    ...(bookmarkProperties && bookmarkProperties.length > 0 ? { bookmarkProperties } : {}),
  };
  return { message: mapped, line, text: formatSchemaMessage(mapped) };
}

function mapRecord(
  mapping: CompiledMapping,
  output: OutputStream,
  message: RecordMessage,
  line: number,
): ReadMessage | undefined {
  const { plan } = output;
  const record = message.record.members;
  const scope = { record, config: mapping.streamMapConfig };
  const fail = (property: string, compiled: CompiledExpression, error: unknown): never => {
    if (!(error instanceof MapEvaluationError)) throw error;
    throw new DataError(
      `mapping "${mapping.name}", stream "${plan.output}": line ${line}: ${property}: \`${compiled.text}\`: ${error.message}`,
      { cause: error },
    );
  };
  const deleted = record.get(DELETED_AT_COLUMN);
  const isDelete = deleted !== undefined && deleted !== null;
  const outcome = filterOutcome(plan.filter, scope, { isDelete, changes: output.changes }, fail);
  if (outcome === "drop") return undefined;
  const rejected = outcome === "delete";
  const members = new Map<string, JsonValue>();
  for (const [name, value] of record) {
    if (plan.dropped.has(name)) continue;
    if (plan.dropOthers && !plan.computed.has(name) && name !== DELETED_AT_COLUMN) continue;
    members.set(name, value);
  }
  for (const [name, compiled] of plan.computed) {
    const reads = propertiesRead(compiled.expression);
    // A value the change did not carry (left out of the record) stays not carried.
    if (reads.length > 0 && reads.some((p) => !record.has(p))) {
      members.delete(name);
      continue;
    }
    const { expression } = compiled;
    try {
      members.set(
        name,
        expression.kind === "property"
          ? (record.get(expression.name) ?? null)
          : toJson(evaluateExpression(expression, scope)),
      );
    } catch (error) {
      fail(name, compiled, error);
    }
  }
  if (rejected) members.set(DELETED_AT_COLUMN, message.timeExtracted ?? new Date().toISOString());
  const recordJson = stringifyExact(new JsonObject(members, ""));
  const mapped: RecordMessage = {
    type: "RECORD",
    stream: plan.output,
    record: new JsonObject(members, recordJson),
    ...(message.version !== undefined ? { version: message.version } : {}),
    ...(message.timeExtracted !== undefined ? { timeExtracted: message.timeExtracted } : {}),
  };
  return {
    message: mapped,
    line,
    text: formatRecordMessage({
      stream: plan.output,
      recordJson,
      ...(message.version !== undefined ? { version: message.version } : {}),
      ...(message.timeExtracted !== undefined ? { timeExtracted: message.timeExtracted } : {}),
    }),
  };
}
