// The console in Chromium (Debian's, driven by playwright-core) against a real Agora with a
// real SMTP server: one user journey across every domain, bad input, a locked account, and a
// tour of every page at desktop and phone width with an accessibility check (axe-core), no
// console errors, no request leaving the machine, and a screenshot of each.
//
//   AGORA_BIN=target/debug/agora node --test tests/     (scripts/console.sh does this)
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { mkdirSync, readFileSync } from "node:fs";
import { chromium } from "playwright-core";
import { ADMIN, start } from "./harness.mjs";

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const SHOTS = new URL("../test-results/screenshots/", import.meta.url).pathname;
const DESKTOP = { width: 1280, height: 860 };
const PHONE = { width: 390, height: 844 };
const WAIT = { timeout: 20000 };

const seller = { name: "Sam Seller", email: "sam@example.com", password: "sam's long passphrase" };
const buyer = { name: "Bea Buyer", email: "bea@example.com", password: "bea's long passphrase" };
const made = {}; // ids the journey creates, for the tour

let app, browser;

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  app = await start();
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium", args: ["--no-sandbox"] });
});

after(async () => {
  await browser?.close();
  await app?.stop();
});

/** A page in its own browser context, watched for console errors and outside requests. */
async function open(viewport = DESKTOP) {
  const context = await browser.newContext({ viewport, baseURL: app.base });
  const page = await context.newPage();
  const watch = { errors: [], foreign: [], expect4xx: false };
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    // A 4xx the page asked for and shows (bad input on purpose) is the test's point, not a fault.
    if (watch.expect4xx && /status of 4\d\d/.test(m.text())) return;
    watch.errors.push(`${page.url()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => watch.errors.push(`${page.url()}: ${e.message}`));
  page.on("request", (r) => {
    const url = new URL(r.url());
    if (!["data:", "blob:"].includes(url.protocol) && url.hostname !== "127.0.0.1") watch.foreign.push(r.url());
  });
  return { context, page, watch };
}

const heading = (page, name) => page.getByRole("heading", { level: 1, name }).waitFor(WAIT);

async function register(page, who) {
  await page.goto("/register");
  await page.getByLabel("Name", { exact: true }).fill(who.name);
  await page.getByLabel("Email", { exact: true }).fill(who.email);
  await page.getByLabel("Password", { exact: true }).fill(who.password);
  await page.getByRole("button", { name: "Create account" }).click();
  await heading(page, "Dashboard");
}

async function signIn(page, who) {
  await page.goto("/login");
  await page.getByLabel("Email", { exact: true }).fill(who.email);
  await page.getByLabel("Password", { exact: true }).fill(who.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await heading(page, "Dashboard");
}

async function signOut(page) {
  await page.getByRole("button", { name: "Sign out" }).click();
  await heading(page, "Sign in");
}

test("the journey: mail, templates, map, shop, orders and a live notification", async () => {
  const a = await open();
  const { page } = a;

  // Register, and verify the address from the real mail.
  await register(page, seller);
  await page.goto(await app.linkFromMail(seller.email, "verify-email"));
  await page.getByText("Your email address is verified").waitFor(WAIT);

  // A contact, then an email to it with an attachment; watch it become sent without reloading.
  await page.goto("/contacts");
  await page.getByLabel("Name").fill("Ada Lovelace");
  await page.getByLabel("Email", { exact: true }).fill("ada@example.com");
  await page.getByRole("button", { name: "Add contact" }).click();
  await page.getByRole("cell", { name: "ada@example.com" }).waitFor(WAIT);
  await page.goto("/emails/new");
  await page.getByLabel("Ada Lovelace <ada@example.com>").check();
  await page.getByLabel("Attachments").setInputFiles(new URL("shoe.png", import.meta.url).pathname);
  await page.getByText("shoe.png (7 KiB)").waitFor(WAIT);
  await page.getByLabel("Subject").fill("Hello from the console");
  await page.getByLabel("Message").fill("Sent through Agora's web console.");
  await page.getByRole("button", { name: "Send" }).click();
  await page.waitForURL(/\/emails\/[0-9a-f-]{36}$/, WAIT);
  made.email = page.url().split("/").pop();
  await page.getByTestId("email-status").getByText("sent", { exact: true }).waitFor(WAIT);
  await page.getByRole("cell", { name: "250" }).first().waitFor(WAIT); // the SMTP server's answer, in the attempts
  assert.match(app.mails(), /Subject: Hello from the console/);
  assert.match(app.mails(), /Content-Disposition: attachment; filename="shoe.png"/);

  // An administrator makes the seller an administrator too.
  await signOut(page);
  await signIn(page, ADMIN);
  await page.goto("/admin/users");
  await page.getByLabel("Search by name or email").fill("sam@");
  await page.getByRole("button", { name: "Search" }).click();
  const row = page.locator(`tr[data-user="${seller.email}"]`);
  await row.getByRole("button", { name: /Make admin/ }).click();
  await row.getByRole("cell", { name: "admin", exact: true }).waitFor(WAIT);
  await signOut(page);
  await signIn(page, seller);

  // A template, previewed as it is typed; a syntax error shows under its field.
  await page.goto("/templates/new");
  await page.getByLabel("Name").fill("order_shipped");
  await page.getByLabel("Subject").fill("Order {{ ref }} shipped");
  await page.getByLabel("Text", { exact: true }).fill("Hello {{ name }}, your parcel is on its way.");
  await page.getByTestId("preview").getByText("Order {ref} shipped").waitFor(WAIT);
  await page.getByLabel("ref").fill("A-17");
  await page.getByTestId("preview").getByText("Order A-17 shipped").waitFor(WAIT);
  a.watch.expect4xx = true;
  await page.getByLabel("Subject").fill("Order {{ ref shipped");
  await page.locator(".field.invalid").filter({ has: page.getByLabel("Subject") }).locator(".field-error").waitFor(WAIT);
  await page.getByLabel("Subject").fill("Order {{ ref }} shipped");
  await page.locator(".field.invalid").waitFor({ state: "detached", ...WAIT });
  a.watch.expect4xx = false;
  await page.getByRole("button", { name: "Save" }).click();
  await page.waitForURL(/\/templates\/[0-9a-f-]{36}$/, WAIT);
  made.template = page.url().split("/").pop();

  // A place: click the map, see its address, save it.
  await page.goto("/map");
  await page.getByTestId("map").click({ position: { x: 300, y: 250 } });
  const address = page.getByTestId("place-address");
  await address.filter({ hasNotText: "Finding" }).waitFor(WAIT);
  assert.match(await address.innerText(), /France/);
  await page.getByLabel("Name").fill("Office");
  await page.getByRole("button", { name: "Save place" }).click();
  await page.locator(".map-side").getByRole("button", { name: "Office" }).waitFor(WAIT);
  await page.getByTestId("map").getByRole("button", { name: "Office" }).waitFor(WAIT);
  assert.equal(await page.locator(".leaflet-marker-icon").count(), 1);

  // A product with an image, in the store registration opened for the seller.
  await page.goto("/my-store");
  // The store is opened by a queue consumer on registration: reload until it is there.
  const storeHeading = page.getByRole("heading", { name: /^Products of/ });
  for (let i = 0; i < 40 && !(await storeHeading.isVisible()); i++) {
    await page.waitForTimeout(500);
    if (await page.getByText("You have no store yet").isVisible()) await page.reload();
  }
  await storeHeading.waitFor(WAIT);
  await page.getByRole("button", { name: "New product" }).click();
  await page.getByLabel("Name", { exact: true }).fill("Trail runner");
  await page.getByLabel("SKU").fill("TR-42");
  await page.getByLabel("Price").fill("129.99");
  await page.getByLabel("Stock").fill("5");
  await page.getByLabel("Image").setInputFiles({ name: "shoe.png", mimeType: "image/png", buffer: readFileSync(new URL("shoe.png", import.meta.url)) });
  await page.getByRole("button", { name: "Add product" }).click();
  await page.getByRole("link", { name: "Trail runner" }).waitFor(WAIT);
  assert.equal(await page.getByLabel("Price of Trail runner in EUR").inputValue(), "129.99");

  // A second user orders it.
  const b = await open();
  await register(b.page, buyer);
  await b.page.goto("/shop");
  await b.page.getByRole("link", { name: "Trail runner" }).click();
  made.product = b.page.url().split("/").pop();
  assert.match(await b.page.locator(".price").innerText(), /129\.99/);
  assert.ok(await b.page.locator(".gallery img").evaluate((img) => img.complete && img.naturalWidth > 0), "the product's image loads");
  await b.page.getByLabel("Quantity").fill("2");
  await b.page.getByRole("button", { name: "Add to cart" }).click();
  await b.page.getByRole("link", { name: "Go to checkout" }).click();
  await b.page.getByRole("cell", { name: "€259.98" }).waitFor(WAIT);
  await b.page.getByRole("button", { name: "Add one" }).click();
  await b.page.getByLabel("Label").fill("Home");
  await b.page.getByLabel("Recipient").fill(buyer.name);
  await b.page.getByLabel("Street").fill("12 Rue de Rivoli");
  await b.page.getByLabel("City").fill("Paris");
  await b.page.getByLabel("Postal code").fill("75001");
  await b.page.getByLabel("Country (2 letters)").fill("FR");
  await b.page.getByRole("button", { name: "Save address" }).click();
  await b.page.getByRole("button", { name: "Place order" }).click();
  await b.page.waitForURL(/\/orders\/[0-9a-f-]{36}$/, WAIT);
  made.order = b.page.url().split("/").pop();
  await b.page.getByTestId("order-status").getByText("pending payment").waitFor(WAIT);

  // The payment provider confirms; the buyer watches the inbox.
  await app.pay(made.order);
  await b.page.getByRole("link", { name: /^Inbox/ }).click();
  await heading(b.page, "Inbox");

  // The seller ships it.
  await page.goto("/my-store");
  await page.getByRole("link", { name: "Orders of my store" }).click();
  await page.locator("main table").getByRole("link").first().click();
  await page.getByTestId("order-status").getByText("paid").waitFor(WAIT);
  await page.getByRole("button", { name: "Mark shipped" }).click();
  await page.getByTestId("order-status").getByText("fulfilled").waitFor(WAIT);

  // The buyer's inbox shows it without a reload.
  const before = b.page.url();
  await b.page.getByTestId("notifications").locator("strong", { hasText: /is fulfilled/ }).waitFor(WAIT);
  assert.equal(b.page.url(), before);
  await b.page.getByTestId("unread-count").waitFor(WAIT);

  assert.deepEqual([...a.watch.errors, ...b.watch.errors], []);
  assert.deepEqual([...a.watch.foreign, ...b.watch.foreign], []);
  await a.context.close();
  await b.context.close();
});

test("bad input shows the error under the field it names", async () => {
  const { context, page, watch } = await open();
  watch.expect4xx = true;
  await page.goto("/register");
  await page.getByLabel("Name", { exact: true }).fill("Short Password");
  await page.getByLabel("Email", { exact: true }).fill("short@example.com");
  await page.getByLabel("Password", { exact: true }).fill("short");
  await page.getByRole("button", { name: "Create account" }).click();
  const password = page.getByLabel("Password", { exact: true });
  await page.locator(".field.invalid .field-error").waitFor(WAIT);
  assert.equal(await password.getAttribute("aria-invalid"), "true");
  const describedBy = await password.getAttribute("aria-describedby");
  const error = await page.locator(`[id="${describedBy.split(" ").pop()}"]`).innerText();
  assert.match(error, /10/);
  assert.deepEqual(watch.errors, []);
  await context.close();
});

test("a locked account shows the lock and when it ends", async () => {
  const who = { name: "Lou Locked", email: "lou@example.com", password: "lou's long passphrase" };
  const created = await fetch(`${app.base}/api/v1/auth/register`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(who) });
  assert.equal(created.status, 201);
  const { context, page, watch } = await open();
  watch.expect4xx = true;
  await page.goto("/login");
  await page.getByLabel("Email", { exact: true }).fill(who.email);
  await page.getByLabel("Password", { exact: true }).fill("not the password at all");
  for (let i = 0; i < 5 && !(await page.locator(".locked").isVisible()); i++) {
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.locator('[role="alert"]').waitFor(WAIT);
    await page.waitForTimeout(200);
  }
  const lock = page.locator(".locked");
  await lock.waitFor(WAIT);
  assert.match(await lock.innerText(), /Account locked.*Try again after \d/s);
  assert.ok(await lock.locator("time").getAttribute("datetime"));
  assert.deepEqual(watch.errors, []);
  await context.close();
});

test("assets have hashed names and a year's caching; the page has a strict policy", async () => {
  const res = await fetch(app.base + "/", { headers: { accept: "text/html" } });
  const csp = res.headers.get("content-security-policy");
  assert.match(csp, /script-src 'self';/);
  assert.match(csp, /img-src 'self' data: blob: http:\/\/127\.0\.0\.1:\d+;/);
  assert.equal(res.headers.get("cache-control"), "no-cache");
  const assets = [...(await res.text()).matchAll(/\/assets\/[\w.-]+/g)].map((m) => m[0]);
  assert.equal(assets.length, 2);
  for (const asset of assets) {
    assert.match(asset, /-[A-Z0-9]{8}\.(js|css)$/);
    const a = await fetch(app.base + asset);
    assert.equal(a.status, 200);
    assert.equal(a.headers.get("cache-control"), "public, max-age=31536000, immutable");
  }
});

// Every page, signed in as an administrator with the journey's data, at both widths.
const PAGES = [
  ["dashboard", "/"], ["account", "/account"], ["emails", "/emails"], ["compose", "/emails/new"],
  ["email", () => `/emails/${made.email}`], ["dead-letters", "/emails/dead-letters"], ["templates", "/templates"],
  ["template", () => `/templates/${made.template}`], ["new-template", "/templates/new"], ["contacts", "/contacts"],
  ["map", "/map"], ["shop", "/shop"], ["product", () => `/shop/products/${made.product}`],
  ["checkout", "/checkout"], ["addresses", "/addresses"], ["my-store", "/my-store"],
  ["categories", "/categories"], ["orders", "/orders"], ["order", () => `/orders/${made.order}`], ["inbox", "/inbox"],
  ["preferences", "/inbox/preferences"], ["users", "/admin/users"], ["suppressions", "/admin/suppressions"],
  ["breakers", "/admin/breakers"],
];
const PUBLIC_PAGES = [["sign-in", "/login"], ["register", "/register"], ["forgot-password", "/forgot-password"], ["reset-password", "/reset-password?token=from-the-mail"]];

async function check(page, watch, name, width) {
  await page.locator("#page-title").waitFor(WAIT);
  await page.waitForFunction(() => !document.querySelector("main")?.innerText.includes("Loading…"), null, WAIT);
  await page.waitForTimeout(300);
  await page.evaluate(AXE);
  const violations = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ["violations"] });
    return r.violations.filter((v) => v.impact === "serious" || v.impact === "critical")
      .map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", ")}`);
  });
  await page.screenshot({ path: `${SHOTS}${name}-${width}.png`, fullPage: true });
  assert.deepEqual(violations, [], `${name} at ${width}px`);
  assert.deepEqual(watch.errors, [], `${name} at ${width}px`);
  assert.deepEqual(watch.foreign, [], `${name} at ${width}px`);
}

for (const viewport of [DESKTOP, PHONE]) {
  test(`every page at ${viewport.width}px: accessible, no console errors, nothing fetched from outside`, async () => {
    const signedOut = await open(viewport);
    for (const [name, path] of PUBLIC_PAGES) {
      await signedOut.page.goto(path);
      await check(signedOut.page, signedOut.watch, name, viewport.width);
    }
    await signedOut.context.close();
    const { context, page, watch } = await open(viewport);
    await signIn(page, seller);
    for (const [name, path] of PAGES) {
      await page.goto(typeof path === "function" ? path() : path);
      await check(page, watch, name, viewport.width);
      // So that the checkout page has a line to show.
      if (name === "product") await page.getByRole("button", { name: "Add to cart" }).click();
    }
    await context.close();
  });
}
