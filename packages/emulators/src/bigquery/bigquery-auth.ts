import crypto, { type KeyObject } from "node:crypto";
import { BigQueryApiError } from "./bigquery-api-error.js";

/** An OAuth2 token endpoint error, in the shape Google's token endpoint answers (`{error, error_description}`). */
export class TokenError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly description: string,
  ) {
    super(`${error}: ${description}`);
  }
}

interface IssuedKey {
  email: string;
  keyId: string;
  publicKey: KeyObject;
}

const JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer";

function base64url(data: string | Buffer): string {
  return Buffer.from(data).toString("base64url");
}

/**
 * Service accounts and tokens of the emulator, checked as Google checks them:
 * - `POST /token` takes the JWT-bearer grant google-auth-library sends for a service-account key
 *   (an RS256 JWT signed with the key's private key) and answers an access token;
 * - an API request carries `Authorization: Bearer <token>`: a token from `/token`, or a
 *   self-signed JWT (what google-auth-library sends with `useJWTAccessWithScope`), whose
 *   signature is checked against the public key of the account named by `iss`.
 */
export class BigQueryAuth {
  private readonly keys = new Map<string, IssuedKey>();
  private readonly tokens = new Map<string, { email: string; expires: number }>();
  private counter = 0;

  constructor(
    private readonly projectId: string,
    private readonly tokenUri: () => string,
  ) {}

  createServiceAccountKey(): Record<string, string> {
    const { publicKey, privateKey } = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
    const n = ++this.counter;
    const email = `emulator-${n}@${this.projectId}.iam.gserviceaccount.com`;
    const keyId = crypto.randomBytes(20).toString("hex");
    this.keys.set(email, { email, keyId, publicKey });
    return {
      type: "service_account",
      project_id: this.projectId,
      private_key_id: keyId,
      private_key: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
      client_email: email,
      client_id: String(100000000000000000000n + BigInt(n)),
      auth_uri: "https://accounts.google.com/o/oauth2/auth",
      token_uri: this.tokenUri(),
      auth_provider_x509_cert_url: "https://www.googleapis.com/oauth2/v1/certs",
      universe_domain: "googleapis.com",
    };
  }

  /** Verifies an RS256 JWT against the issuing account's key; returns its claims. */
  private verifyJwt(jwt: string): { claims: Record<string, unknown>; key: IssuedKey } {
    const parts = jwt.split(".");
    if (parts.length !== 3) throw new TokenError(400, "invalid_grant", "Invalid JWT.");
    let header: Record<string, unknown>;
    let claims: Record<string, unknown>;
    try {
      header = JSON.parse(Buffer.from(parts[0]!, "base64url").toString("utf8")) as Record<string, unknown>;
      claims = JSON.parse(Buffer.from(parts[1]!, "base64url").toString("utf8")) as Record<string, unknown>;
    } catch {
      throw new TokenError(400, "invalid_grant", "Invalid JWT.");
    }
    if (header.alg !== "RS256") throw new TokenError(400, "invalid_grant", "Invalid JWT Signature.");
    const key = typeof claims.iss === "string" ? this.keys.get(claims.iss) : undefined;
    if (!key) throw new TokenError(400, "invalid_grant", "Invalid grant: account not found");
    const valid = crypto.verify(
      "RSA-SHA256",
      Buffer.from(`${parts[0]!}.${parts[1]!}`),
      key.publicKey,
      Buffer.from(parts[2]!, "base64url"),
    );
    if (!valid) throw new TokenError(400, "invalid_grant", "Invalid JWT Signature.");
    const now = Math.floor(Date.now() / 1000);
    const exp = Number(claims.exp);
    const iat = Number(claims.iat);
    if (
      !Number.isFinite(exp) ||
      !Number.isFinite(iat) ||
      exp < now - 300 ||
      iat > now + 300 ||
      exp - iat > 3600
    ) {
      throw new TokenError(
        400,
        "invalid_grant",
        "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.",
      );
    }
    return { claims, key };
  }

  /** `POST /token` with a form body; returns the JSON answer. */
  token(form: URLSearchParams): Record<string, unknown> {
    const grantType = form.get("grant_type");
    if (grantType !== JWT_BEARER) {
      throw new TokenError(400, "unsupported_grant_type", `Invalid grant_type: ${grantType ?? ""}`);
    }
    const assertion = form.get("assertion");
    if (!assertion) throw new TokenError(400, "invalid_request", "Missing required parameter: assertion");
    const { key } = this.verifyJwt(assertion);
    const token = `ya29.emulator.${base64url(crypto.randomBytes(24))}`;
    this.tokens.set(token, { email: key.email, expires: Date.now() + 3600_000 });
    return { access_token: token, expires_in: 3599, token_type: "Bearer" };
  }

  /** Checks an API request's Authorization header; throws BigQuery's 401. */
  authorize(header: string | undefined): void {
    if (!header || !/^Bearer\s+/i.test(header)) {
      const error = new BigQueryApiError(
        401,
        "required",
        "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.",
        { location: "Authorization" },
      );
      throw error;
    }
    const token = header.replace(/^Bearer\s+/i, "").trim();
    const issued = this.tokens.get(token);
    if (issued && issued.expires > Date.now()) return;
    if (!issued && token.split(".").length === 3 && !token.startsWith("ya29.")) {
      try {
        this.verifyJwt(token);
        return;
      } catch {
        // Falls through to the 401 below.
      }
    }
    throw new BigQueryApiError(
      401,
      "authError",
      "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.",
      { location: "Authorization" },
    );
  }
}
