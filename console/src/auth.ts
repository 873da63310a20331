// Who is signed in: the account from /auth/me, kept beside the in-memory access token.
import { useEffect, useState } from "preact/hooks";
import { get, post, refresh, session } from "./api";
import type { User } from "./types";
import { clear as clearCart } from "./cart";

let current: User | null = null;
let ready = false;
const listeners = new Set<() => void>();
const changed = () => listeners.forEach((l) => l());

export function useAuth() {
  const [, tick] = useState(0);
  useEffect(() => {
    const l = () => tick((n) => n + 1);
    listeners.add(l);
    l(); // a change between the first render and this effect is not lost
    return () => void listeners.delete(l);
  }, []);
  return { user: current, ready };
}

/** At start-up: a session survives a reload through the refresh cookie. */
export async function restore() {
  if (session.remembered() && (await refresh())) current = await get<User>("auth/me").catch(() => null);
  ready = true;
  changed();
}

export async function signIn(tokens: { access_token: string; expires_in: number }) {
  session.set(tokens);
  current = await get<User>("auth/me");
  changed();
}

export async function reloadUser() {
  current = await get<User>("auth/me");
  changed();
}

export async function signOut(everywhere = false) {
  await post(everywhere ? "auth/logout-all" : "auth/logout").catch(() => undefined);
  session.set(null);
  clearCart(); // the next person on this browser starts with an empty cart
  current = null;
  changed();
}

// An access token that no refresh can renew (session revoked elsewhere) signs the page out.
session.onChange(() => {
  if (!session.signedIn() && current) {
    current = null;
    changed();
  }
});
