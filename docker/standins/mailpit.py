"""SMTP catcher stand-in: keeps every message in memory and lists them over HTTP in the shape
of Mailpit's /api/v1/messages (ID, From, To, Subject, Created; total)."""

import asyncio
import email
import email.policy
import html
import json
import threading
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller

messages = []
lock = threading.Lock()


class Catcher:
    async def handle_DATA(self, server, session, envelope):
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with lock:
            messages.append({
                "ID": str(uuid.uuid4()),
                "MessageID": str(parsed.get("Message-ID", "")).strip("<>"),
                "From": {"Address": envelope.mail_from},
                "To": [{"Address": rcpt} for rcpt in envelope.rcpt_tos],
                "Subject": str(parsed.get("Subject", "")),
                "Created": datetime.now(timezone.utc).isoformat(),
            })
        return "250 OK"


class Api(BaseHTTPRequestHandler):
    def do_GET(self):
        with lock:
            listed = list(reversed(messages))
        if self.path.startswith("/api/v1/messages"):
            body, kind = json.dumps({"total": len(listed), "messages": listed}), "application/json"
        elif self.path in ("/readyz", "/livez"):
            body, kind = "ok", "text/plain"
        else:
            rows = "".join(f"<li>{html.escape(m['Created'])}: {html.escape(m['Subject'])} "
                           f"&rarr; {html.escape(', '.join(t['Address'] for t in m['To']))}</li>" for m in listed)
            body, kind = f"<h1>{len(listed)} messages</h1><ul>{rows}</ul>", "text/html"
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


controller = Controller(Catcher(), hostname="0.0.0.0", port=1025)
controller.start()
ThreadingHTTPServer(("0.0.0.0", 8025), Api).serve_forever()
