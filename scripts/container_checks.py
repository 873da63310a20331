"""What scripts/container.sh checks against a running container or stack, with the standard
library only.

    container_checks.py seed BASE STATE      register, a product, an order, an email; STATE keeps ids
    container_checks.py verify BASE STATE    all of it is back, and the old token still verifies
    container_checks.py stack BASE MAILPIT   the journey through nginx; the email reaches the catcher
    container_checks.py dashboards PROMETHEUS DIR
                                             every Grafana panel query answers with data
"""

import glob
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

PATIENCE = 90
PASSWORD = "correct horse battery staple"


def call(method, url, body=None, token=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
            return response.status, (json.loads(raw) if raw else None), dict(response.headers)
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw), dict(e.headers)
        except ValueError:
            return e.code, raw.decode(errors="replace"), dict(e.headers)


def ok(expected, method, url, body=None, token=None, headers=None):
    status, answer, _ = call(method, url, body, token, headers)
    assert status == expected, f"{method} {url}: {status} {answer}"
    return answer


def eventually(what, check):
    deadline = time.monotonic() + PATIENCE
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.5)


def console(base):
    """The web console compiled into the image: the page and the assets it names."""
    request = urllib.request.Request(f"{base}/", headers={"Accept": "text/html"})
    with urllib.request.urlopen(request, timeout=30) as response:
        html = response.read().decode()
        assert response.status == 200 and "content-security-policy" in {k.lower() for k in response.headers}
    assets = [part for part in html.split('"') if part.startswith("/assets/")]
    assert len(assets) == 2, html
    for asset in assets:
        with urllib.request.urlopen(f"{base}{asset}", timeout=30) as response:
            assert response.status == 200 and len(response.read()) > 1000, asset


def journey(base):
    """An account, its store, a product, an order and an email; returns what was made."""
    console(base)
    api = f"{base}/api/v1"
    run = uuid.uuid4().hex[:8]
    email = f"owner-{run}@example.com"
    user = ok(201, "POST", f"{api}/auth/register", {"email": email, "password": PASSWORD, "name": "Olga Owner"})["user"]
    tokens = ok(200, "POST", f"{api}/auth/login", {"email": email, "password": PASSWORD})
    renewed = ok(200, "POST", f"{api}/auth/refresh", {"refresh_token": tokens["refresh_token"]})
    token = renewed["access_token"]
    store = eventually("the account's store", lambda: (ok(200, "GET", f"{api}/stores", token=token)["data"] or [None])[0])
    product = ok(201, "POST", f"{api}/products", {
        "store_id": store["id"], "name": "Blue mug", "sku": f"MUG-{run}", "price": 1299, "currency": "EUR", "stock": 5,
    }, token=token)
    address = ok(201, "POST", f"{api}/addresses", {
        "label": "Home", "recipient": "Olga Owner", "street": "1 Main Street", "city": "Springfield",
        "postal_code": "12345", "country": "US",
    }, token=token)
    order = ok(201, "POST", f"{api}/orders", {
        "address_id": address["id"], "items": [{"product_id": product["id"], "quantity": 2}],
    }, token=token, headers={"Idempotency-Key": f"order-{run}"})
    assert order["total"] == 2598, order
    sent = ok(202, "POST", f"{api}/emails/send", {
        "to": [f"friend-{run}@example.com"], "subject": f"Hello {run}", "text": "From the container.",
    }, token=token)
    eventually("the email to be sent",
               lambda: ok(200, "GET", f"{api}/emails/{sent['id']}", token=token)["status"] == "sent")
    wrong = call("POST", f"{api}/auth/login", {"email": email, "password": "not the password"})[0]
    assert wrong == 401, wrong
    return {
        "run": run, "email": email, "user_id": user["id"], "access_token": token,
        "product_id": product["id"], "order_id": order["id"], "email_id": sent["id"],
    }


def seed(base, state_file):
    state = journey(base)
    with open(state_file, "w") as f:
        json.dump(state, f)
    print(f"seeded: account {state['email']}, product, order, email")


def verify(base, state_file):
    with open(state_file) as f:
        state = json.load(f)
    api = f"{base}/api/v1"
    token = state["access_token"]
    me = ok(200, "GET", f"{api}/auth/me", token=token)
    assert me["id"] == state["user_id"], me
    assert ok(200, "GET", f"{api}/products/{state['product_id']}")["stock"] == 3
    order = ok(200, "GET", f"{api}/orders/{state['order_id']}", token=token)
    assert order["total"] == 2598, order
    email = ok(200, "GET", f"{api}/emails/{state['email_id']}", token=token)
    assert email["status"] == "sent", email
    ok(200, "POST", f"{api}/auth/login", {"email": state["email"], "password": PASSWORD})
    print("after the restart: the old token verifies; account, product, order and email are back")


def stack(base, mailpit):
    state = journey(base)
    api = f"{base}/api/v1"
    cancelled = ok(200, "POST", f"{api}/orders/{state['order_id']}/status",
                   {"status": "cancelled", "reason": "changed my mind"}, token=state["access_token"])
    assert cancelled["status"] == "cancelled", cancelled
    # Through nginx: the request id comes back, and the email reached the SMTP catcher.
    _, _, headers = call("GET", f"{base}/api/v1/info", headers={"X-Request-Id": f"stack-{state['run']}"})
    assert headers.get("x-request-id") == f"stack-{state['run']}", headers
    hidden = call("GET", f"{base}/metrics")[0]
    assert hidden == 404, f"/metrics through nginx answered {hidden}"

    def caught():
        listed = json.load(urllib.request.urlopen(f"{mailpit}/api/v1/messages", timeout=10))
        return [m for m in listed["messages"] if m["Subject"] == f"Hello {state['run']}"]

    caught_mail = eventually("the email at the SMTP catcher", caught)
    assert caught_mail[0]["To"][0]["Address"] == f"friend-{state['run']}@example.com", caught_mail
    print("through nginx: account, product, order and its cancellation, email (caught by the SMTP server)")
    shared_limit(base)


# The stack's API limit (config/default.toml, server.rate_limit).
PER_SECOND, BURST = 10, 20


def shared_limit(base):
    """One client's burst through nginx, spread over both replicas, is limited as one replica
    would limit it: the replicas share one bucket per client in Redis. With a bucket in each
    replica the client would get about twice the burst."""
    time.sleep(BURST / PER_SECOND + 0.5)  # the bucket full again after the journey
    counts = {}
    started = time.monotonic()
    for _ in range(3 * BURST):
        status = call("GET", f"{base}/api/v1/info")[0]
        counts[status] = counts.get(status, 0) + 1
    elapsed = time.monotonic() - started
    allowed = BURST + PER_SECOND * elapsed + 2
    print(f"one client, {3 * BURST} requests in {elapsed:.2f} s through both replicas: {counts} "
          f"(a shared bucket allows at most {allowed:.0f})")
    assert counts.get(429, 0) > 0 and counts.get(200, 0) <= allowed, counts


def dashboards(prometheus, directory):
    substitutions = {"$__rate_interval": "1m", "$__range": "1h", "$__interval": "10s"}
    queries = []
    for path in sorted(glob.glob(f"{directory}/*.json")):
        with open(path) as f:
            board = json.load(f)
        for panel in board["panels"]:
            for target in panel["targets"]:
                expr = target["expr"]
                for name, value in substitutions.items():
                    expr = expr.replace(name, value)
                queries.append((f"{board['title']} / {panel['title']}", expr))

    def empty():
        missing = []
        for title, expr in queries:
            url = f"{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
            answer = json.load(urllib.request.urlopen(url, timeout=10))
            assert answer["status"] == "success", (title, answer)
            if not answer["data"]["result"]:
                missing.append(title)
        return missing

    deadline = time.monotonic() + PATIENCE
    while (missing := empty()) and time.monotonic() < deadline:
        time.sleep(2)
    assert not missing, f"panels without data: {missing}"
    print(f"every dashboard query answers: {len(queries)} queries")

    # The alert rules the stack mounts are the ones promtool tested, all loaded.
    with open("docker/prometheus/alerts.yml") as f:
        written = sorted(line.split(":", 1)[1].strip() for line in f if line.strip().startswith("- alert:"))
    rules = json.load(urllib.request.urlopen(f"{prometheus}/api/v1/rules", timeout=10))["data"]["groups"]
    loaded = sorted(rule["name"] for group in rules for rule in group["rules"])
    assert loaded == written, f"loaded {loaded}, written {written}"
    print(f"Prometheus loaded the {len(loaded)} alert rules")


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    {"seed": seed, "verify": verify, "stack": stack, "dashboards": dashboards}[command](*args)
