"""A stand-in for SendGrid's mail API for benchmarks: answers 202 and counts recipients."""
import http.server, json, sys, threading, uuid

recipients = 0
lock = threading.Lock()

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        global recipients
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        with lock:
            recipients += len(body["personalizations"])
        self.send_response(202)
        self.send_header("X-Message-Id", uuid.uuid4().hex)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):
        data = str(recipients).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass

http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
