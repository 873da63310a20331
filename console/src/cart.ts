// The shopping cart, kept in this browser (localStorage). An order comes from one store, so
// the cart holds one store's products at a time.
import { useEffect, useState } from "preact/hooks";
import type { Product } from "./types";

export type Line = { product_id: string; store_id: string; name: string; price: number; currency: string; quantity: number };

const KEY = "agora.cart";
const listeners = new Set<() => void>();

export function lines(): Line[] {
  try {
    return JSON.parse(localStorage.getItem(KEY) ?? "[]");
  } catch {
    return [];
  }
}

function save(next: Line[]) {
  if (next.length) localStorage.setItem(KEY, JSON.stringify(next));
  else localStorage.removeItem(KEY);
  listeners.forEach((l) => l());
}

/** Whether `p` may join the cart as it is (empty, or the same store). */
export const fits = (p: Product) => lines().every((l) => l.store_id === p.store_id);

/** Adds `quantity` of `p`; a product of another store starts a new cart. */
export function add(p: Product, quantity: number) {
  const current = fits(p) ? lines() : [];
  const existing = current.find((l) => l.product_id === p.id);
  if (existing) existing.quantity += quantity;
  else current.push({ product_id: p.id, store_id: p.store_id, name: p.name, price: p.price, currency: p.currency, quantity });
  save(current);
}

export function setQuantity(productId: string, quantity: number) {
  save(lines().map((l) => (l.product_id === productId ? { ...l, quantity } : l)).filter((l) => l.quantity > 0));
}

export const clear = () => save([]);

export function useCart(): Line[] {
  const [, tick] = useState(0);
  useEffect(() => {
    const l = () => tick((n) => n + 1);
    listeners.add(l);
    return () => void listeners.delete(l);
  }, []);
  return lines();
}
