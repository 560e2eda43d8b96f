"""A stand-in for SendGrid's mail API for benchmarks: answers 202 and counts recipients.

GET / answers the number of recipients so far; GET /mail?to=ADDRESS the plain text of the latest
mail to that address among the last few hundred, with its substitutions applied as SendGrid would
(how a benchmark reads its sign-in link). With a second argument, every recipient's address is also
appended to that file, one a line (how bench/spike.sh checks that each accepted entry got its mail).
"""
import collections, http.server, json, sys, threading, urllib.parse, uuid

recipients = 0
latest = collections.OrderedDict()  # address -> text of the latest mail, the newest last
lock = threading.Lock()
KEEP = 500
log = open(sys.argv[2], "w", buffering=1 << 16) if len(sys.argv) > 2 else None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        global recipients
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        text = next((c["value"] for c in body.get("content", []) if c["type"] == "text/plain"), "")
        with lock:
            recipients += len(body["personalizations"])
            for p in body["personalizations"]:
                # What SendGrid does with each recipient's substitutions before sending.
                mine = text
                for placeholder, value in (p.get("substitutions") or {}).items():
                    mine = mine.replace(placeholder, value)
                for to in p["to"]:
                    address = to["email"].lower()
                    latest.pop(address, None)
                    latest[address] = mine
                    if log:
                        log.write(address + "\n")
            if log:
                log.flush()
            while len(latest) > KEEP:
                latest.popitem(last=False)
        self.send_response(202)
        self.send_header("X-Message-Id", uuid.uuid4().hex)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        if url.path == "/mail":
            address = urllib.parse.parse_qs(url.query).get("to", [""])[0].lower()
            with lock:
                text = latest.get(address)
            self.answer(200 if text is not None else 404, text or "")
        else:
            self.answer(200, str(recipients))

    def answer(self, status, text):
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
