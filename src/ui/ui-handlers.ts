import { ConfigError, messageOf } from "../errors.js";
import { checkListLimit } from "../state/run-history.js";
import type { RunHistoryView } from "./run-history-view.js";
import { PAGE_HTML, PAGE_SCRIPT, PAGE_STYLE } from "./ui-page.js";

/** What a handler answers; the server adds the headers every response gets. */
export interface UiResponse {
  status: number;
  contentType: string;
  body: string;
  /** Data from the system database: passed through the secret redactor before it is sent. */
  data: boolean;
}

/** Runs listed when the page does not ask for a number: enough for the chart, quick to draw. */
export const DEFAULT_RUN_LIMIT = 200;

const ASSETS: Record<string, { contentType: string; body: string }> = {
  "/": { contentType: "text/html; charset=utf-8", body: PAGE_HTML },
  "/index.html": { contentType: "text/html; charset=utf-8", body: PAGE_HTML },
  "/app.js": { contentType: "text/javascript; charset=utf-8", body: PAGE_SCRIPT },
  "/app.css": { contentType: "text/css; charset=utf-8", body: PAGE_STYLE },
};

/**
 * The routes of `sluice ui`: the page (`/`, `/app.js`, `/app.css`) and the JSON it reads:
 * - `GET /api/runs[?stateId=<id>&limit=<n>]` → `{ runs: RunView[] }`, newest first
 * - `GET /api/runs/<runId>` → `{ run: RunView }`
 * - `GET /api/state` → `{ states: StateView[] }`, sorted by state id
 * - `GET /api/state/<stateId>` → `{ state: StateView }`
 * Errors are `{ error: "..." }` with 400 (a bad parameter), 404 (unknown) or 500 (the database).
 */
export async function handleUiRequest(view: RunHistoryView, method: string, url: URL): Promise<UiResponse> {
  if (method !== "GET" && method !== "HEAD")
    return json(405, { error: `${method} is not supported: read only` });
  const asset = ASSETS[url.pathname];
  if (asset) return { status: 200, ...asset, data: false };
  if (url.pathname === "/favicon.ico")
    return { status: 204, contentType: "text/plain", body: "", data: false };
  if (!url.pathname.startsWith("/api/")) return json(404, { error: `no page at ${url.pathname}` });
  try {
    return await handleApi(view, url);
  } catch (error) {
    if (error instanceof ConfigError) return json(400, { error: error.message });
    return json(500, { error: messageOf(error) });
  }
}

async function handleApi(view: RunHistoryView, url: URL): Promise<UiResponse> {
  const parts = url.pathname.slice("/api/".length).split("/");
  const [collection, encodedId, ...rest] = parts;
  if (rest.length > 0 || encodedId === "") return notFound(url);
  const id = encodedId === undefined ? undefined : decodeId(encodedId);
  if (collection === "runs") {
    if (id === undefined) {
      const stateId = url.searchParams.get("stateId") || undefined;
      const runs = await view.runs({
        ...(stateId !== undefined ? { stateId } : {}),
        limit: parseLimit(url.searchParams.get("limit")),
      });
      return json(200, { runs });
    }
    const run = await view.run(id);
    return run ? json(200, { run }) : json(404, { error: `no run with id "${id}"` });
  }
  if (collection === "state") {
    const states = await view.states();
    if (id === undefined) return json(200, { states });
    const state = states.find((s) => s.stateId === id);
    return state ? json(200, { state }) : json(404, { error: `no state is stored for "${id}"` });
  }
  return notFound(url);
}

function parseLimit(text: string | null): number {
  if (text === null || text === "") return DEFAULT_RUN_LIMIT;
  if (!/^\d+$/.test(text)) throw new ConfigError(`limit: expected a whole number >= 1, got "${text}"`);
  return checkListLimit(Number(text)) ?? DEFAULT_RUN_LIMIT;
}

function decodeId(encoded: string): string {
  try {
    return decodeURIComponent(encoded);
  } catch {
    throw new ConfigError(`"${encoded}" is not a valid URL-encoded id`);
  }
}

function notFound(url: URL): UiResponse {
  return json(404, { error: `no API at ${url.pathname} (try /api/runs or /api/state)` });
}

function json(status: number, value: unknown): UiResponse {
  return { status, contentType: "application/json; charset=utf-8", body: JSON.stringify(value), data: true };
}
