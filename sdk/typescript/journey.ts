// Drives a live Agora through its main journeys with openapi-fetch and the types
// openapi-typescript generated from the served OpenAPI document: what a user of the SDK
// would write. scripts/contract.sh generates `generated/schema.d.ts`, type-checks this file
// (strict, no skipLibCheck) and runs it.
//
//     node generated/dist/journey.js BASE_URL ADMIN_EMAIL ADMIN_PASSWORD

import createClient from "openapi-fetch";
import type { components, paths } from "./generated/schema.js";

type Schemas = components["schemas"];

const [baseUrl, adminEmail, adminPassword] = process.argv.slice(2);
const PASSWORD = "journey passphrase 42";
// The smallest PNG header the server's content sniffing recognises.
const PNG = new Uint8Array([
  0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52, 0, 0, 0, 1,
  0, 0, 0, 1, 8, 6, 0, 0, 0,
]);

function step(name: string): void {
  console.log(`  ${name}`);
}

function check(condition: unknown, what: string): asserts condition {
  if (!condition) throw new Error(`failed: ${what}`);
}

/** The data of a call that must have answered `status`. */
function ok<T>(result: { data?: T; error?: unknown; response: Response }, status: number): T {
  check(
    result.response.status === status && result.data !== undefined,
    `${result.response.url} answered ${result.response.status}: ${JSON.stringify(result.error)}`,
  );
  return result.data as T;
}

async function eventually<T>(what: string, look: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const value = await look();
    if (value !== undefined) return value;
    check(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const anonymous = createClient<paths>({ baseUrl });

async function signIn(email: string, password = PASSWORD) {
  const pair = ok(await anonymous.POST("/api/v1/auth/login", { body: { email, password } }), 200);
  return createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${pair.access_token}` } });
}

async function register(email: string, name: string): Promise<Schemas["RegisterResponse"]> {
  const body = { email, password: PASSWORD, name };
  return ok(await anonymous.POST("/api/v1/auth/register", { body }), 201);
}

const run = Math.random().toString(16).slice(2, 10);
console.log("typescript client journeys");

step("register, log in, refresh");
const sellerEmail = `seller-${run}@journey.test`;
const seller = await register(sellerEmail, "Sally Seller");
const pair = ok(
  await anonymous.POST("/api/v1/auth/login", { body: { email: sellerEmail, password: PASSWORD } }),
  200,
);
const renewed = ok(
  await anonymous.POST("/api/v1/auth/refresh", { body: { refresh_token: pair.refresh_token } }),
  200,
);
check(renewed.refresh_token !== pair.refresh_token, "a new refresh token");
const shop = createClient<paths>({
  baseUrl,
  headers: { Authorization: `Bearer ${renewed.access_token}` },
});
const me = ok(await shop.GET("/api/v1/auth/me"), 200);
check(me.id === seller.user.id, "the same account");

step("the store made for a new account, a category");
const store = await eventually("the seller's store", async () => {
  return ok(await shop.GET("/api/v1/stores"), 200).data[0];
});
const admin = await signIn(adminEmail, adminPassword);
const category = ok(
  await admin.POST("/api/v1/categories", { body: { name: `Mugs ${run}` } }),
  201,
);

step("a product with its image in one multipart request");
const product = ok(
  await shop.POST("/api/v1/products/with-image", {
    body: {
      product: {
        store_id: store.id,
        name: "Blue mug",
        sku: `MUG-${run}`,
        price: 1299,
        currency: "EUR",
        stock: 5,
        category_id: category.id,
      },
      image: "mug.png",
    },
    bodySerializer(body) {
      const form = new FormData();
      form.append("product", new Blob([JSON.stringify(body.product)], { type: "application/json" }));
      form.append("image", new Blob([PNG], { type: "image/png" }), body.image ?? "image.png");
      return form;
    },
  }),
  201,
);
check(product.images.length === 1, "the image is the product's");

step("a filtered listing");
const listing = ok(
  await anonymous.GET("/api/v1/products", {
    params: {
      query: {
        search: `mug-${run}`,
        category_id: category.id,
        min_price: 1000,
        max_price: 2000,
        in_stock: true,
      },
    },
  }),
  200,
);
check(listing.data.length === 1 && listing.data[0].id === product.id, "only the mug is listed");

step("an address, an order with an Idempotency-Key, its replay, its status");
const buyerEmail = `buyer-${run}@journey.test`;
await register(buyerEmail, "Bob Buyer");
const buyer = await signIn(buyerEmail);
const address = ok(
  await buyer.POST("/api/v1/addresses", {
    body: {
      label: "Home",
      recipient: "Bob Buyer",
      street: "1 Main Street",
      city: "Springfield",
      postal_code: "12345",
      country: "US",
    },
  }),
  201,
);
const orderBody: Schemas["PlaceOrder"] = {
  address_id: address.id,
  items: [{ product_id: product.id, quantity: 2 }],
};
const key = `order-${run}`;
const order = ok(
  await buyer.POST("/api/v1/orders", {
    body: orderBody,
    params: { header: { "Idempotency-Key": key } },
  }),
  201,
);
check(order.total === 2598 && order.status === "pending_payment", "the order and its total");
const replay = await buyer.POST("/api/v1/orders", {
  body: orderBody,
  params: { header: { "Idempotency-Key": key } },
});
check(replay.response.headers.get("idempotent-replayed") === "true", "a replay says so");
check(ok(replay, 201).id === order.id, "the replay is the same order");
const path = { params: { path: { id: order.id } } };
const cancelled = ok(
  await buyer.POST("/api/v1/orders/{id}/status", {
    ...path,
    body: { status: "cancelled", reason: "changed my mind" },
  }),
  200,
);
check(cancelled.status === "cancelled", "cancelled");
check(ok(await buyer.GET("/api/v1/orders/{id}", path), 200).status === "cancelled", "it stays so");

step("an email sent and delivered, a template previewed, a contact");
const accepted = ok(
  await shop.POST("/api/v1/emails/send", {
    body: { to: ["Ada Lovelace <ada@example.com>"], subject: "Hello from the SDK", text: "Plain." },
  }),
  202,
);
const sent = await eventually("the email to be sent", async () => {
  const email = ok(
    await shop.GET("/api/v1/emails/{id}", { params: { path: { id: accepted.id } } }),
    200,
  );
  return email.status === "sent" ? email : undefined;
});
check(sent.subject === "Hello from the SDK", "the email as sent");
const template = ok(
  await admin.POST("/api/v1/email-templates", {
    body: { name: `shipped_${run}`, subject: "Order {{ order_ref }} shipped", text: "Hello {{ name }}." },
  }),
  201,
);
const preview = ok(
  await admin.POST("/api/v1/email-templates/{id}/preview", {
    params: { path: { id: template.id } },
    body: { variables: { order_ref: "A1B2", name: "Ada" } },
  }),
  200,
);
check(preview.subject === "Order A1B2 shipped" && preview.text === "Hello Ada.", "the preview");
const contact = ok(
  await shop.POST("/api/v1/contacts", { body: { name: "Ada Lovelace", email: "ada@example.com" } }),
  201,
);
const contacts = ok(await shop.GET("/api/v1/contacts"), 200);
check(contacts.data.some((c) => c.id === contact.id), "the contact is listed");

step("a saved place with its address, reverse geocoding");
const place = ok(
  await shop.POST("/api/v1/locations", { body: { name: "Office", lat: 48.8566, lon: 2.3522 } }),
  201,
);
check(place.address?.country_code === "fr", "the place's address");
const geocoded = ok(
  await shop.GET("/api/v1/locations/reverse-geocode/{lat}/{lon}", {
    params: { path: { lat: 51.5034, lon: -0.1276 } },
  }),
  200,
);
check(geocoded.address.country_code === "gb", "reverse geocoding");

step("notifications and preferences");
const inbox = await eventually("the welcome notification", async () => {
  const page = ok(await shop.GET("/api/v1/notifications"), 200);
  return page.data.some((n) => n.event_type === "account.welcome") ? page : undefined;
});
check(inbox.data.length >= 1, "an inbox");
check(ok(await shop.GET("/api/v1/notifications/unread-count"), 200).unread >= 1, "unread");
ok(await shop.POST("/api/v1/notifications/read-all"), 200);
check(ok(await shop.GET("/api/v1/notifications/unread-count"), 200).unread === 0, "all read");
const updated = ok(
  await shop.PUT("/api/v1/notification-preferences", {
    body: {
      channels: { marketing: { email: true } },
      quiet_hours: { start: "22:00", end: "07:00", time_zone: "Europe/Berlin" },
    },
  }),
  200,
);
check(updated.quiet_hours?.start === "22:00", "quiet hours kept");
const stored = ok(await shop.GET("/api/v1/notification-preferences"), 200);
check(stored.channels["marketing"]?.["email"] === true, "marketing email on");

console.log("typescript client journeys: all passed");
