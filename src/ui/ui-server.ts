import http from "node:http";
import type { AddressInfo } from "node:net";
import { ConfigError, messageOf } from "../errors.js";
import type { RunHistoryView } from "./run-history-view.js";
import { handleUiRequest, type UiResponse } from "./ui-handlers.js";

export interface UiServerOptions {
  view: RunHistoryView;
  /** Address to listen on. Default 127.0.0.1: the page has no login, so only this machine sees it. */
  host?: string;
  /** Default 0: any free port (the CLI passes its own default). */
  port?: number;
  /** Scrubs known secrets out of every JSON answer (run history and state should hold none). */
  redact?: (text: string) => string;
}

/**
 * Headers of every answer. The page loads only its own script and style and talks only to this
 * server: even a value that slipped past escaping could neither run inline script nor call out.
 */
const SECURITY_HEADERS: Record<string, string> = {
  "Content-Security-Policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
  "X-Frame-Options": "DENY",
  "Cache-Control": "no-store",
};

const LOOPBACK_NAMES = new Set(["localhost", "127.0.0.1", "[::1]"]);
const WILDCARD_HOSTS = new Set(["0.0.0.0", "::", "[::]"]);

/** The web server of `sluice ui`: node:http, the page's three files and its read-only JSON API. */
export class UiServer {
  private constructor(
    private readonly server: http.Server,
    /** Where a browser on this machine opens the page, e.g. `http://127.0.0.1:8765/`. */
    readonly url: string,
  ) {}

  /** Listens, and resolves once the port is bound; a port in use or a bad host is a ConfigError. */
  static async start(options: UiServerOptions): Promise<UiServer> {
    const host = options.host ?? "127.0.0.1";
    const redact = options.redact ?? ((text: string) => text);
    const allowedHosts = new Set([...LOOPBACK_NAMES, host.includes(":") ? `[${host}]` : host]);
    const anyHost = WILDCARD_HOSTS.has(host);
    const server = http.createServer((request, response) => {
      void answer(request, response, { view: options.view, redact, allowedHosts, anyHost });
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", (error: NodeJS.ErrnoException) => reject(listenError(error, host, options.port)));
      server.listen(options.port ?? 0, host, () => resolve());
    });
    const address = server.address() as AddressInfo;
    const shownHost = address.family === "IPv6" ? `[${address.address}]` : address.address;
    return new UiServer(server, `http://${shownHost}:${address.port}/`);
  }

  /** Stops listening and ends open connections (a browser's keep-alive would hold `close` open). */
  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}

async function answer(
  request: http.IncomingMessage,
  response: http.ServerResponse,
  options: {
    view: RunHistoryView;
    redact: (text: string) => string;
    allowedHosts: Set<string>;
    anyHost: boolean;
  },
): Promise<void> {
  let result: UiResponse;
  try {
    const url = new URL(request.url ?? "/", "http://localhost");
    // A page on another site may point its own host name at 127.0.0.1 (DNS rebinding) and read
    // the answers as same-origin; the Host header it must send gives it away.
    if (!options.anyHost && !options.allowedHosts.has(hostnameOf(request.headers.host))) {
      result = {
        status: 403,
        contentType: "text/plain; charset=utf-8",
        body: "sluice ui answers only requests addressed to its own host name\n",
        data: false,
      };
    } else {
      result = await handleUiRequest(options.view, request.method ?? "GET", url);
    }
  } catch (error) {
    result = {
      status: 500,
      contentType: "application/json; charset=utf-8",
      body: JSON.stringify({ error: messageOf(error) }),
      data: true,
    };
  }
  const body = result.data ? options.redact(result.body) : result.body;
  response.writeHead(result.status, {
    ...SECURITY_HEADERS,
    "Content-Type": result.contentType,
    "Content-Length": Buffer.byteLength(body),
  });
  response.end(request.method === "HEAD" ? undefined : body);
}

function hostnameOf(header: string | undefined): string {
  if (!header) return "";
  try {
    return new URL(`http://${header}`).hostname;
  } catch {
    return "";
  }
}

function listenError(error: NodeJS.ErrnoException, host: string, port: number | undefined): Error {
  switch (error.code) {
    case "EADDRINUSE":
      return new ConfigError(
        `--port ${port}: the port is already in use on ${host}; choose another (--port 0 picks a free one)`,
        { cause: error },
      );
    case "EACCES":
      return new ConfigError(`--port ${port}: not allowed to listen on this port; choose one above 1023`, {
        cause: error,
      });
    case "EADDRNOTAVAIL":
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return new ConfigError(
        `--host ${host}: cannot listen on this address (${error.code}); the default is 127.0.0.1`,
        { cause: error },
      );
    default:
      return error;
  }
}
