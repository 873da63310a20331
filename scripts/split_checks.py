"""Agora split into one process per domain, each built alone, each on a PostgreSQL database
of its own, sharing a Kafka-protocol broker, behind nginx routing by path; then the user
journey through nginx. Standard library only (plus the binaries, nginx, psql and aiosmtpd).

    split_checks.py BIN_DIR                            the journey
    split_checks.py BIN_DIR bench BENCH MONOLITH       benches/checkout.rs (binary BENCH) against
                                                       auth, catalog and orders apart, then
                                                       against MONOLITH (the default build)

BIN_DIR holds agora-<domain> for each domain. Reads TEST_KAFKA_BROKERS (required) and
TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/postgres).
"""

import concurrent.futures
import json
import mailbox
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from container_checks import PASSWORD, call, eventually, ok  # noqa: E402

# One process per binary in BIN_DIR (agora-<domain>), set in main().
DOMAINS = []
# The domains whose ports others use; each process reaches them at services.<name>.url.
PROVIDERS = ["auth", "files", "catalog", "mail"]
# Every process serves these itself; the entry point sends /api/v1/info to auth's.
PLATFORM_PATHS = ("/health", "/readyz", "/metrics", "/api/v1/info")
REVOCATION_SECS = 2
SERVICE_KEY = uuid.uuid4().hex + uuid.uuid4().hex
PNG = bytes([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log(message):
    print(f"[split] {message}", flush=True)


class Deployment:
    def __init__(self, bin_dir, work, domains=DOMAINS):
        self.domains = domains
        self.bin_dir = bin_dir
        self.work = work
        self.run = uuid.uuid4().hex[:8]
        self.postgres = os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
        self.brokers = os.environ["TEST_KAFKA_BROKERS"]
        self.ports = {d: free_port() for d in DOMAINS + ["all"]}
        self.processes = {}
        self.helpers = []

    def database_url(self, domain):
        parts = urllib.parse.urlsplit(self.postgres)
        return urllib.parse.urlunsplit(parts._replace(path=f"/split_{self.run}_{domain}"))

    def psql(self, sql):
        subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", self.postgres, "-c", sql], check=True)

    def start_smtp(self):
        self.maildir = os.path.join(self.work, "maildir")
        self.smtp_port = free_port()
        self.helpers.append(subprocess.Popen(
            [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{self.smtp_port}",
             "-c", "aiosmtpd.handlers.Mailbox", self.maildir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        eventually("the SMTP server", lambda: self.port_open(self.smtp_port))

    @staticmethod
    def port_open(port):
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    def env(self, domain):
        env = dict(os.environ)
        env.update({
            "AGORA__DATA_DIR": os.path.join(self.work, domain),
            "AGORA__SERVER__PORT": str(self.ports[domain]),
            "AGORA__SERVER__SERVICE_KEY": SERVICE_KEY,
            "AGORA__DATABASE__URL": self.database_url(domain),
            "AGORA__QUEUE__BACKEND": "kafka",
            "AGORA__QUEUE__KAFKA__BROKERS": self.brokers,
            "AGORA__QUEUE__KAFKA__NAMESPACE": f"split{self.run}",
            "AGORA__QUEUE__KAFKA__PARTITIONS": "1",
            "AGORA__MAILER__TRANSPORT": "smtp",
            "AGORA__MAILER__SMTP__HOST": "127.0.0.1",
            "AGORA__MAILER__SMTP__PORT": str(self.smtp_port),
            "AGORA__MAILER__SMTP__TLS": "none",
            "AGORA__AUTH__REVOCATION_CHECK_SECS": str(REVOCATION_SECS),
            "AGORA__AUTH__REQUIRE_VERIFIED_EMAIL": "false",
            "AGORA__SERVER__RATE_LIMIT__ENABLED": "false",
            "AGORA__AUTH__RATE_LIMIT__ENABLED": "false",
            "AGORA__LOG__FORMAT": "json",
            "AGORA__LOG__LEVEL": "warn",
        })
        for provider in PROVIDERS:
            if provider != domain and provider in self.domains:
                key = f"AGORA__SERVICES__{provider.upper()}__URL"
                env[key] = f"http://127.0.0.1:{self.ports[provider]}"
        return env

    def start(self, domain):
        out = open(os.path.join(self.work, f"{domain}.log"), "ab")
        binary = self.monolith if domain == "all" else os.path.join(self.bin_dir, f"agora-{domain}")
        self.processes[domain] = subprocess.Popen(
            [binary, "serve"],
            env=self.env(domain), stdout=out, stderr=subprocess.STDOUT)

    def ready(self, domain):
        base = f"http://127.0.0.1:{self.ports[domain]}"

        def answered():
            if self.processes[domain].poll() is not None:
                raise AssertionError(f"the {domain} process exited; see {self.work}/{domain}.log")
            try:
                return call("GET", f"{base}/readyz")[0] == 200
            except OSError:
                return False
        eventually(f"{domain} /readyz", answered)
        info = ok(200, "GET", f"{base}/api/v1/info")
        assert domain == "all" or info["domains"] == [domain], info
        return ok(200, "GET", f"{base}/api-docs/openapi.json")

    def kill(self, domain):
        self.processes[domain].send_signal(signal.SIGKILL)
        self.processes[domain].wait()

    def start_all(self, nginx=True):
        for domain in self.domains:
            self.psql(f'CREATE DATABASE "split_{self.run}_{domain}"')
        self.start_smtp()
        for domain in self.domains:
            self.start(domain)
        documents = {domain: self.ready(domain) for domain in self.domains}
        log(f"{len(self.domains)} processes ready, each alone on its database")
        if nginx:
            self.start_nginx(documents)

    def start_nginx(self, documents):
        """Routes each path's first segment to the process whose OpenAPI document has it."""
        owner = {}
        for domain, document in documents.items():
            for path in document["paths"]:
                if path in PLATFORM_PATHS:
                    continue
                if path.startswith("/api/v1/"):
                    prefix = "/api/v1/" + path.split("/")[3]
                else:
                    prefix = "/" + path.split("/")[1]
                previous = owner.setdefault(prefix, domain)
                assert previous == domain, f"{prefix} is both {previous}'s and {domain}'s"
        owner["/api/v1/info"] = "auth"
        locations = []
        for prefix, domain in sorted(owner.items()):
            upstream = f"http://127.0.0.1:{self.ports[domain]}"
            for match in (f"= {prefix}", f"^~ {prefix}/"):
                locations.append(f"    location {match} {{ proxy_pass {upstream}; }}")
        self.entry_port = free_port()
        conf = os.path.join(self.work, "nginx.conf")
        with open(conf, "w") as f:
            f.write(f"""daemon off;
master_process off;
pid {self.work}/nginx.pid;
error_log {self.work}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {self.work}/nginx-body;
    proxy_temp_path {self.work}/nginx-proxy;
    fastcgi_temp_path {self.work}/nginx-fastcgi;
    uwsgi_temp_path {self.work}/nginx-uwsgi;
    scgi_temp_path {self.work}/nginx-scgi;
    client_max_body_size 6m;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host $host;
    proxy_read_timeout 60s;
    server {{
        listen 127.0.0.1:{self.entry_port};
        # Service-to-service routes are never reachable from outside.
        location ^~ /internal/ {{ return 404; }}
{chr(10).join(locations)}
    }}
}}
""")
        self.helpers.append(subprocess.Popen(["nginx", "-p", self.work, "-c", conf]))
        eventually("nginx", lambda: self.port_open(self.entry_port))
        log(f"nginx on 127.0.0.1:{self.entry_port} routes {len(owner)} path prefixes")

    def stop(self):
        for process in list(self.processes.values()) + self.helpers:
            if process.poll() is None:
                process.terminate()
        for process in list(self.processes.values()) + self.helpers:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        for domain in self.domains:
            try:
                self.psql(f'DROP DATABASE IF EXISTS "split_{self.run}_{domain}" WITH (FORCE)')
            except subprocess.CalledProcessError:
                pass

    def buyer_emails(self, address):
        if not os.path.isdir(self.maildir):
            return []
        return [m for m in mailbox.Maildir(self.maildir, create=False) if address in (m["To"] or "")]


def multipart(fields, file_field, filename, content):
    boundary = uuid.uuid4().hex
    body = b""
    for name, value in fields.items():
        body += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n"
                 f"Content-Type: application/json\r\n\r\n{value}\r\n").encode()
    body += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{file_field}\"; "
             f"filename=\"{filename}\"\r\nContent-Type: image/png\r\n\r\n").encode() + content + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def post_raw(url, body, content_type, token):
    import urllib.request
    request = urllib.request.Request(url, data=body, method="POST")
    request.add_header("Content-Type", content_type)
    request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def journey(d):
    base = f"http://127.0.0.1:{d.entry_port}"
    api = f"{base}/api/v1"
    run = d.run
    email = f"buyer-{run}@example.com"
    ok(201, "POST", f"{api}/auth/register", {"email": email, "password": PASSWORD, "name": "Bea Buyer"})
    login = lambda: ok(200, "POST", f"{api}/auth/login", {"email": email, "password": PASSWORD})["access_token"]
    token = login()

    # The store appears from auth's event, in the catalog's process.
    store = eventually("the account's store",
                       lambda: (ok(200, "GET", f"{api}/stores", token=token)["data"] or [None])[0])
    # A product with an image: the catalog stores it through the files process.
    product_json = json.dumps({"store_id": store["id"], "name": "Blue mug", "sku": f"MUG-{run}",
                               "price": 1299, "currency": "EUR", "stock": 5})
    body, content_type = multipart({"product": product_json}, "image", "mug.png", PNG)
    status, mug = post_raw(f"{api}/products/with-image", body, content_type, token)
    assert status == 201, (status, mug)
    assert len(mug["images"]) == 1, mug
    log("register, store from the event, product with an image (catalog -> files): ok")

    address = ok(201, "POST", f"{api}/addresses", {
        "label": "Home", "recipient": "Bea Buyer", "street": "1 Main Street", "city": "Springfield",
        "postal_code": "12345", "country": "US"}, token=token)
    order_body = {"address_id": address["id"], "items": [{"product_id": mug["id"], "quantity": 2}]}
    key = {"Idempotency-Key": f"order-{run}"}
    order = ok(201, "POST", f"{api}/orders", order_body, token=token, headers=key)
    again = call("POST", f"{api}/orders", order_body, token=token, headers=key)
    assert again[0] in (200, 201) and again[1]["id"] == order["id"], again
    assert ok(200, "GET", f"{api}/products/{mug['id']}")["stock"] == 3
    log("address, order with Idempotency-Key (replayed once), stock 5 -> 3: ok")

    # 50 parallel orders for one each of a product with 10 in stock.
    bowl = ok(201, "POST", f"{api}/products", {"store_id": store["id"], "name": "Bowl", "sku": f"BOWL-{run}",
                                               "price": 500, "currency": "EUR", "stock": 10}, token=token)

    def buy(i):
        return call("POST", f"{api}/orders", {"address_id": address["id"],
                                              "items": [{"product_id": bowl["id"], "quantity": 1}]},
                    token=token, headers={"Idempotency-Key": f"bowl-{run}-{i}"})[0]
    with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
        statuses = list(pool.map(buy, range(50)))
    assert statuses.count(201) == 10, sorted(statuses)
    assert all(s == 409 for s in statuses if s != 201), sorted(statuses)
    assert ok(200, "GET", f"{api}/products/{bowl['id']}")["stock"] == 0
    log(f"50 parallel orders on stock 10: {statuses.count(201)} placed, {statuses.count(409)} refused (409)")

    # A status change: stock comes back, and the buyer is emailed through notifications -> mail.
    cancelled = ok(200, "POST", f"{api}/orders/{order['id']}/status",
                   {"status": "cancelled", "reason": "changed my mind"}, token=token)
    assert cancelled["status"] == "cancelled", cancelled
    eventually("the stock back after the cancellation",
               lambda: ok(200, "GET", f"{api}/products/{mug['id']}")["stock"] == 5)
    caught = eventually("the buyer's email about the order at the SMTP server",
                        lambda: [m for m in d.buyer_emails(email) if "is cancelled" in (m["Subject"] or "")])
    log(f"cancellation: stock 3 -> 5, email to the buyer at the SMTP server ({caught[0]['Subject']!r})")

    place = ok(201, "POST", f"{api}/locations", {"name": "Tower", "lat": 48.8584, "lon": 2.2945},
               token=token)
    filled = eventually("the place's address",
                        lambda: (ok(200, "GET", f"{api}/locations/{place['id']}", token=token).get("address")
                                 or None))
    log(f"saved place, reverse geocoded offline: {filled.get('city')}, {filled.get('country')}")

    # Logout everywhere cuts the token on every process within the revocation bound.
    guarded = [f"{api}/auth/me", f"{api}/emails", f"{api}/notifications", f"{api}/locations",
               f"{api}/orders", f"{api}/addresses"]
    for url in guarded:
        assert call("GET", url, token=token)[0] == 200, url
    catalog_write = lambda t: call("POST", f"{api}/stores", {"name": f"Second {run}"}, token=t)[0]
    files_write = lambda t: post_raw(f"{api}/files", *multipart({}, "file", "a.png", PNG), t)[0]
    ok(200, "POST", f"{api}/auth/logout-all", token=token)
    started = time.monotonic()
    eventually("every process refusing the old token",
               lambda: all(call("GET", url, token=token)[0] == 401 for url in guarded)
               and catalog_write(token) == 401 and files_write(token) == 401)
    took = time.monotonic() - started
    assert took <= REVOCATION_SECS + 3, f"revocation took {took:.1f} s"
    log(f"logout-all: every process refused the old token after {took:.1f} s (bound {REVOCATION_SECS} s)")

    # The catalog process dies: orders answer 503 problem+json; restarted, all continues.
    token = login()
    d.kill("catalog")
    status, problem, headers = call("POST", f"{api}/orders", order_body, token=token,
                                    headers={"Idempotency-Key": f"down-{run}"})
    assert status == 503, (status, problem)
    assert headers.get("Content-Type", headers.get("content-type", "")).startswith("application/problem+json"), headers
    assert problem["status"] == 503, problem
    d.start("catalog")
    d.ready("catalog")
    # Orders' circuit breaker may still be open for a few seconds: a client retries a 503.
    def placed_after():
        status, answer, _ = call("POST", f"{api}/orders", order_body, token=token,
                                 headers={"Idempotency-Key": f"after-{run}"})
        assert status in (201, 503), (status, answer)
        return answer if status == 201 else None
    after = eventually("an order once the catalog is back", placed_after)
    assert after["status"] == "pending_payment", after
    assert ok(200, "GET", f"{api}/products/{mug['id']}")["stock"] == 3
    assert ok(200, "GET", f"{api}/products/{bowl['id']}")["stock"] == 0
    orders = ok(200, "GET", f"{api}/orders?limit=100", token=token)
    live = [o for o in orders["data"] if o["status"] != "cancelled"]
    bowls = sum(1 for o in live if o["items"][0]["product_id"] == bowl["id"])
    assert bowls == 10, f"{bowls} bowl orders for 10 in stock"
    log("catalog killed: orders answered 503 problem+json; restarted: order placed, stock 5 -> 3, bowls 0 of 10")


def bench(bin_dir, bench_binary, monolith):
    """The checkout benchmark with orders and catalog apart, then in one process."""
    for domains, label in ((["auth", "catalog", "orders"], "split: auth, catalog, orders apart"),
                           (["all"], "one process")):
        work = tempfile.mkdtemp(prefix="agora-bench-")
        d = Deployment(bin_dir, work, domains)
        d.monolith = monolith
        try:
            d.start_all(nginx=False)
            url = lambda domain: f"http://127.0.0.1:{d.ports[domain if domain in domains else 'all']}"
            env = dict(os.environ, BENCH_LABEL=label, BENCH_AUTH_URL=url("auth"),
                       BENCH_CATALOG_URL=url("catalog"), BENCH_ORDERS_URL=url("orders"))
            subprocess.run([bench_binary], env=env, check=True)
        finally:
            d.stop()
            shutil.rmtree(work, ignore_errors=True)


def main():
    bin_dir = sys.argv[1]
    DOMAINS.extend(sorted(name.removeprefix("agora-") for name in os.listdir(bin_dir)
                          if name.startswith("agora-")))
    assert DOMAINS, f"no agora-<domain> binaries in {bin_dir}"
    if sys.argv[2:3] == ["bench"]:
        bench(bin_dir, sys.argv[3], sys.argv[4])
        return
    work = tempfile.mkdtemp(prefix="agora-split-")
    d = Deployment(bin_dir, work)
    passed = False
    try:
        d.start_all()
        journey(d)
        passed = True
        print(f"split into {len(DOMAINS)} processes: the journey passed through nginx")
    finally:
        d.stop()
        if passed:
            shutil.rmtree(work, ignore_errors=True)
        else:
            for domain in DOMAINS:
                path = os.path.join(work, f"{domain}.log")
                if os.path.exists(path):
                    print(f"--- {domain}.log (last lines)")
                    with open(path, errors="replace") as f:
                        print("".join(f.readlines()[-30:]))


if __name__ == "__main__":
    main()
