// The API's shapes the console reads (see /api-docs/openapi.json for all of them).

export type Role = "user" | "admin";
export type User = {
  id: string; email: string; name: string; phone?: string | null; role: Role; is_active: boolean;
  email_verified: boolean; locked_until?: string | null; created_at: string;
};
export type Session = { id: string; created_at: string; last_used_at: string; expires_at: string; ip?: string | null; device?: string | null; current: boolean };
export type EmailStatus = "queued" | "sending" | "sent" | "retrying" | "failed";
export type Attempt = { attempt: number; started_at: string; duration_ms: number; outcome: string; response: string };
export type Email = {
  id: string; subject: string; status: EmailStatus; attempts: number; created_at: string; sent_at?: string | null;
  last_error?: string | null; recipients: { to: string[]; cc?: string[]; bcc?: string[] }; attachments: string[];
  text?: string | null; html?: string | null; delivery_attempts?: Attempt[]; message_id: string;
};
export type StatsWindow = { sent: number; failed: number; success_rate?: number | null; avg_latency_ms?: number | null; p95_latency_ms?: number | null };
export type EmailStats = { queued: number; sending: number; sent: number; retrying: number; failed: number; last_24h: StatsWindow; last_7d: StatsWindow };
export type Template = { id: string; name: string; subject: string; text?: string | null; html?: string | null; updated_at: string };
export type Rendered = { subject: string; text?: string | null; html?: string | null };
export type Contact = { id: string; name: string; email: string };
export type FileInfo = { id: string; filename: string; content_type: string; size: number; url: string };
export type GeocodedAddress = { display_name: string; road?: string | null; district?: string | null; city?: string | null; region?: string | null; state?: string | null; postcode?: string | null; country?: string | null; country_code?: string | null };
export type Place = { id: string; name: string; lat: number; lon: number; notes?: string | null; tags: string[]; address?: GeocodedAddress | null; address_provider?: string | null; distance_km?: number };
export type Store = { id: string; name: string; description?: string | null; owner_id: string };
export type Category = { id: string; name: string; parent_id?: string | null };
export type Product = {
  id: string; store_id: string; name: string; sku: string; description: string; price: number; currency: string; stock: number;
  images: string[]; is_active: boolean; category_id?: string | null; brand?: string | null; low_stock_threshold: number;
};
export type Address = { id: string; owner_id?: string; label: string; recipient: string; phone?: string | null; street: string; city: string; state?: string | null; postal_code: string; country: string };
export type OrderStatus = "pending_payment" | "paid" | "fulfilled" | "delivered" | "cancelled" | "expired";
export type Order = {
  id: string; buyer_id: string; store_id: string; status: OrderStatus; currency: string; total: number; created_at: string; note?: string | null;
  items: { product_id: string; name: string; sku: string; quantity: number; unit_price: number }[];
  address: Address; history: { at: string; from?: OrderStatus | null; to: OrderStatus; reason?: string | null }[];
};
export type Channel = "email" | "in_app" | "sms" | "push";
export type Notification = { id: string; title: string; body: string; category: string; read: boolean; created_at: string; event_type: string };
export type Preferences = { channels: Record<string, Record<string, boolean>>; quiet_hours?: { start: string; end: string; time_zone?: string | null } | null };
export type Suppression = { address: string; reason: string; created_at: string };
export type Breaker = { name: string; state: "closed" | "open" | "half_open" };
