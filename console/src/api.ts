// The API client: JSON in and out, problem+json errors as `Problem`, and the session's
// access token, held in memory only. The refresh token lives in an HttpOnly cookie
// (`?refresh_cookie=true`) that page scripts cannot read; a reload refreshes through it.

export const API = "/api/v1";

export type FieldError = { field: string; message: string };

/** An RFC 9457 problem from the API, or a network failure (status 0). */
export class Problem extends Error {
  constructor(
    public status: number,
    public title: string,
    public detail: string,
    public errors: FieldError[] = [],
    public retryAfter: number | null = null,
    public type = "",
  ) {
    super(detail || title);
  }
  /** The message for one field, if the API named it. */
  field(name: string): string | undefined {
    return this.errors.find((e) => e.field === name || e.field.startsWith(name + "."))?.message;
  }
}

export type Page<T> = { data: T[]; pagination: { page: number; limit: number; total: number } };

type TokenPair = { access_token: string; expires_in: number };

let accessToken: string | null = null;
// Saves a refresh that would fail (and log a 401) on a browser that never signed in.
const SIGNED_IN = "agora.signed-in";
let refreshing: Promise<boolean> | null = null;
const listeners = new Set<() => void>();

export const session = {
  token: () => accessToken,
  signedIn: () => accessToken !== null,
  onChange(listener: () => void) {
    listeners.add(listener);
    return () => listeners.delete(listener);
  },
  /** Whether this browser signed in before (a hint only: the cookie itself is unreadable). */
  remembered: () => localStorage.getItem(SIGNED_IN) === "1",
  set(tokens: TokenPair | null) {
    accessToken = tokens?.access_token ?? null;
    if (accessToken) localStorage.setItem(SIGNED_IN, "1");
    else localStorage.removeItem(SIGNED_IN);
    listeners.forEach((l) => l());
  },
};

/** A new access token through the refresh cookie; false when there is no live session. */
export function refresh(): Promise<boolean> {
  refreshing ??= fetch(`${API}/auth/refresh?refresh_cookie=true`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: "{}",
    credentials: "same-origin",
  })
    .then(async (res) => {
      if (!res.ok) {
        session.set(null);
        return false;
      }
      session.set(await res.json());
      return true;
    })
    .catch(() => false)
    .finally(() => (refreshing = null));
  return refreshing;
}

async function problemOf(res: Response): Promise<Problem> {
  const retryAfter = Number(res.headers.get("retry-after")) || null;
  try {
    const body = await res.json();
    return new Problem(res.status, body.title ?? res.statusText, body.detail ?? "", body.errors ?? [], retryAfter, body.type ?? "");
  } catch {
    return new Problem(res.status, res.statusText || "Request failed", `The server answered ${res.status}.`, [], retryAfter);
  }
}

export type RequestOptions = { headers?: Record<string, string>; retried?: boolean };

/** Calls the API; throws `Problem` on any answer but 2xx. */
export async function request<T>(method: string, path: string, body?: unknown, options: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { accept: "application/json", ...options.headers };
  if (accessToken) headers.authorization = `Bearer ${accessToken}`;
  let payload: BodyInit | undefined;
  if (body instanceof FormData) payload = body;
  else if (body !== undefined) {
    headers["content-type"] = "application/json";
    payload = JSON.stringify(body);
  }
  let res: Response;
  try {
    res = await fetch(path.startsWith("/") ? path : `${API}/${path}`, { method, headers, body: payload, credentials: "same-origin" });
  } catch {
    throw new Problem(0, "Network error", "The server could not be reached. Check your connection and try again.");
  }
  if (res.status === 401 && accessToken && !options.retried && (await refresh())) {
    return request<T>(method, path, body, { ...options, retried: true });
  }
  if (!res.ok) throw await problemOf(res);
  if (res.status === 204 || res.headers.get("content-length") === "0") return undefined as T;
  const type = res.headers.get("content-type") ?? "";
  return (type.includes("json") ? await res.json() : await res.text()) as T;
}

export const get = <T>(path: string) => request<T>("GET", path);
export const post = <T>(path: string, body?: unknown, options?: RequestOptions) => request<T>("POST", path, body ?? {}, options);
export const put = <T>(path: string, body: unknown) => request<T>("PUT", path, body);
export const patch = <T>(path: string, body: unknown) => request<T>("PATCH", path, body);
export const del = (path: string) => request<void>("DELETE", path);

/** A query string from the set values only. */
export function query(params: Record<string, string | number | boolean | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : "";
}
