// What the browser tests run against: a real Agora (the binary named by AGORA_BIN) on a
// fresh SQLite directory, a real SMTP server (aiosmtpd) that prints every mail it takes, and
// a local map tile server, so no request leaves the machine.
import { spawn, execFileSync } from "node:child_process";
import { createServer } from "node:http";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { createHmac } from "node:crypto";
import { tmpdir } from "node:os";
import path from "node:path";
import net from "node:net";

export const ADMIN = { email: "admin@example.com", password: "console admin passphrase" };
const WEBHOOK_SECRET = "console-test-webhook-secret";

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function waitFor(check, what, ms = 30000) {
  const until = Date.now() + ms;
  for (;;) {
    try {
      if (await check()) return;
    } catch {}
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// A 256x256 light grey PNG: every tile the map asks for.
const TILE = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAQAAAAEACAIAAADTED8xAAACAElEQVR42u3TMQ0AAAgEsfevlIkFA8xooEkVXHKpHngrEmAAMAAYAAwABgADgAHAAGAAMAAYAAwABgADgAHAAGAAMAAYAAwABgADgAHAAGAAMAAYAAwABgADgAHAAGAAMAAYAAwABgADgAHAAGAAMAAYAAwABgADgAHAAGAAMAAYAAOogAHAAGAAMAAYAAwABgADgAHAAGAAMAAYAAwABgADgAHAAGAAMAAYAAwABgADgAHAAGAAMAAYAAwABgADgAHAAGAAMAAYAAwABgADgAHAAGAAMAAYAAwABgADgAHAAGAADAAGAAOAAcAAYAAwABgADAAGAAOAAcAAYAAwABgADAAGAAOAAcAAYAAwABgADAAGAAOAAcAAYAAwABgADAAGAAOAAcAAYAAwABgADAAGAAOAAcAAYAAwABgADAAGAANgABUwABgADAAGAAOAAcAAYAAwABgADAAGAAOAAcAAYAAwABgADAAGAAOAAcAAYAAwABgADAAGAAOAAcAAYAAwABgADAAGAAOAAcAAYAAwABgADAAGAAOAAcAAYAAwABgADIABwABgADAAGAAMAAYAA4ABwABgADAAGAAMAAYAA4ABwABgADAAGAAMAAYAA4ABwABgADAAGAAMAAYAA4ABwABgADAAGAAMAAYAA4ABwABgADAAGAAMAAYAA8C1EXUpyBE4BGAAAAAASUVORK5CYII=",
  "base64",
);

/** A mail body as sent (quoted-printable: `=3D` for `=`, `=` before a wrapped line's end). */
function quotedPrintable(text) {
  return text.replace(/=\r?\n/g, "").replace(/=([0-9A-F]{2})/g, (_, hex) => String.fromCharCode(parseInt(hex, 16)));
}

export async function start() {
  const bin = process.env.AGORA_BIN;
  if (!bin) throw new Error("set AGORA_BIN to the agora binary");
  const dir = mkdtempSync(path.join(tmpdir(), "agora-console-"));
  const [smtpPort, appPort] = await Promise.all([freePort(), freePort()]);

  const tiles = createServer((_req, res) => res.writeHead(200, { "content-type": "image/png" }).end(TILE));
  await new Promise((r) => tiles.listen(0, "127.0.0.1", r));
  const tileUrl = `http://127.0.0.1:${tiles.address().port}/{z}/{x}/{y}.png`;

  let mails = "";
  const smtp = spawn("python3", ["-m", "aiosmtpd", "-n", "-l", `127.0.0.1:${smtpPort}`], { stdio: ["ignore", "pipe", "inherit"] });
  smtp.stdout.on("data", (d) => (mails += d.toString()));
  await waitFor(() => new Promise((ok) => net.connect(smtpPort, "127.0.0.1").on("connect", function () { this.end(); ok(true); }).on("error", () => ok(false))), "the SMTP server");

  const base = `http://127.0.0.1:${appPort}`;
  const env = {
    ...process.env,
    AGORA_ENV: "console-test",
    AGORA__DATA_DIR: dir,
    AGORA__SERVER__PORT: String(appPort),
    AGORA__SERVER__RATE_LIMIT__PER_SECOND: "1000",
    AGORA__SERVER__RATE_LIMIT__BURST: "1000",
    AGORA__AUTH__RATE_LIMIT__PER_SECOND: "1000",
    AGORA__AUTH__RATE_LIMIT__BURST: "1000",
    AGORA__AUTH__PUBLIC_URL: base,
    AGORA__AUTH__MAX_FAILED_LOGINS: "3",
    AGORA__AUTH__PASSWORD__MEMORY_KIB: "8192",
    AGORA__AUTH__PASSWORD__ITERATIONS: "1",
    AGORA__MAILER__TRANSPORT: "smtp",
    AGORA__MAILER__SMTP__HOST: "127.0.0.1",
    AGORA__MAILER__SMTP__PORT: String(smtpPort),
    AGORA__MAILER__SMTP__TLS: "none",
    AGORA__QUEUE__POLL_INTERVAL_MS: "100",
    AGORA__ORDERS__WEBHOOK_SECRET: WEBHOOK_SECRET,
    AGORA__CONSOLE__TILE_URL: tileUrl,
    AGORA__CONSOLE__TILE_ATTRIBUTION: "Test tiles",
    AGORA__LOG__FORMAT: "json",
    AGORA__LOG__LEVEL: "warn",
  };
  const passwordFile = path.join(dir, "admin-password");
  writeFileSync(passwordFile, ADMIN.password + "\n");
  execFileSync(bin, ["admin", "create", "--email", ADMIN.email, "--password-file", passwordFile, "--name", "Ada Admin"], { env, stdio: "inherit" });
  const server = spawn(bin, ["serve"], { env, stdio: ["ignore", "inherit", "inherit"] });
  await waitFor(async () => (await fetch(`${base}/readyz`)).ok, "Agora to be ready");

  return {
    base,
    mails: () => mails,
    /** The newest link to `path` in a mail to `to`. */
    async linkFromMail(to, linkPath) {
      const re = new RegExp(`${base.replace(/[.:/]/g, "\\$&")}/${linkPath}\\?token=[A-Za-z0-9_-]+`, "g");
      let link;
      await waitFor(() => {
        const sections = mails.split("---------- MESSAGE FOLLOWS ----------").filter((m) => m.includes(to));
        link = sections.flatMap((m) => quotedPrintable(m).match(re) ?? []).pop();
        return !!link;
      }, `a ${linkPath} mail to ${to}`);
      return link;
    },
    /** What the payment provider does when an order is paid. */
    async pay(orderId) {
      const body = JSON.stringify({ event_id: `evt-${orderId}`, order_id: orderId, type: "payment.succeeded" });
      const signature = createHmac("sha256", WEBHOOK_SECRET).update(body).digest("hex");
      const res = await fetch(`${base}/api/v1/payments/webhook`, { method: "POST", headers: { "content-type": "application/json", "x-signature": `sha256=${signature}` }, body });
      if (!res.ok) throw new Error(`webhook: ${res.status} ${await res.text()}`);
    },
    async stop() {
      server.kill("SIGTERM");
      smtp.kill("SIGTERM");
      tiles.close();
      await new Promise((r) => server.once("exit", r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
