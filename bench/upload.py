"""Direct upload: how many bytes pass through the web process while a visitor uploads a photo.

A counting TCP proxy stands in front of the web process (as the router does); the visitor enters,
signs in with the token from the mail (read from the SendGrid stand-in), asks for a presigned
POST, posts the file straight to S3, and attaches it. Bytes are counted in both directions for
each step. Prints a Markdown table.
  python3 bench/upload.py PROXY_PORT WEB_PORT STUB_PORT MEBIBYTES
"""
import http.client, json, re, socket, sys, threading, time, urllib.parse, uuid

proxy_port, web_port, stub_port = (int(a) for a in sys.argv[1:4])
size = int(float(sys.argv[4]) * 1024 * 1024)
received = sent = 0  # by the web process: from the visitor, to the visitor
count_lock = threading.Lock()


def pipe(source, target, upstream):
    global received, sent
    try:
        while data := source.recv(65536):
            with count_lock:
                if upstream:
                    received += len(data)
                else:
                    sent += len(data)
            target.sendall(data)
    except OSError:
        pass
    finally:
        for s in (source, target):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def serve(listener):
    while True:
        client, _ = listener.accept()
        server = socket.create_connection(("127.0.0.1", web_port))
        threading.Thread(target=pipe, args=(client, server, True), daemon=True).start()
        threading.Thread(target=pipe, args=(server, client, False), daemon=True).start()


listener = socket.create_server(("127.0.0.1", proxy_port))
threading.Thread(target=serve, args=(listener,), daemon=True).start()

cookies = {}
web = http.client.HTTPConnection("127.0.0.1", proxy_port, timeout=15)


def call(method, path, body=None):
    headers = {"X-Forwarded-Proto": "https", "Accept-Language": "en"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    if cookies:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    web.request(method, path, json.dumps(body) if body is not None else None, headers)
    response = web.getresponse()
    data = response.read()
    for header in response.headers.get_all("Set-Cookie") or []:
        name, value = header.split(";")[0].split("=", 1)
        cookies[name] = value
    return response.status, data


rows = []


def step(label, action):
    before = (received, sent)
    result = action()
    time.sleep(0.2)  # the proxy has forwarded the last bytes
    rows.append((label, received - before[0], sent - before[1]))
    return result


email = f"upload-{uuid.uuid4().hex[:8]}@example.test"


def enter():
    status, body = call("POST", "/api/v1/entries", {"email": email, "displayName": "upload", "consent": True})
    assert status == 202, (status, body)


def sign_in():
    for _ in range(100):
        mail = http.client.HTTPConnection("127.0.0.1", stub_port, timeout=5)
        mail.request("GET", "/mail?to=" + urllib.parse.quote(email))
        response = mail.getresponse()
        text = response.read().decode()
        if response.status == 200:
            break
        time.sleep(0.1)
    else:
        raise SystemExit("no sign-in mail arrived at the SendGrid stand-in")
    token = re.search(r"#token=([A-Za-z0-9_-]{43})", text).group(1)
    status, body = call("POST", "/api/v1/session", {"token": token})
    assert status == 204, (status, body)


def sign():
    status, body = call("POST", "/api/v1/me/photo-uploads", {"contentType": "image/png"})
    assert status == 200, (status, body)
    return json.loads(body)


def upload(signed):
    """The browser's form post, straight to the bucket: not through the proxy."""
    boundary = uuid.uuid4().hex
    parts = b""
    for name, value in signed["fields"].items():
        parts += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
    png = b"\x89PNG\r\n\x1a\n" + bytes(size - 8)
    body = (
        parts
        + f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="photo.png"\r\nContent-Type: image/png\r\n\r\n'.encode()
        + png
        + f"\r\n--{boundary}--\r\n".encode()
    )
    url = urllib.parse.urlparse(signed["url"])
    s3 = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    s3.request("POST", url.path or "/", body, {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    response = s3.getresponse()
    response.read()
    assert response.status < 300, response.status
    return len(body)


def attach(signed):
    status, body = call("PUT", "/api/v1/me/photo", {"key": signed["key"]})
    assert status == 200, (status, body)
    assert json.loads(body)["bytes"] == size, body


step("enter (`POST /api/v1/entries`)", enter)
step("sign in with the mailed token (`POST /api/v1/session`)", sign_in)
signed = step("sign the upload (`POST /api/v1/me/photo-uploads`)", sign)
posted = step("post the file straight to S3 (not via the app)", lambda: upload(signed))
step("verify and attach (`PUT /api/v1/me/photo`)", lambda: attach(signed))

print(f"| step | bytes to the web process | bytes from the web process |")
print(f"|---|---|---|")
for label, up, down in rows:
    print(f"| {label} | {up:,} | {down:,} |")
total_up, total_down = sum(r[1] for r in rows), sum(r[2] for r in rows)
print(f"| **all steps** | **{total_up:,}** | **{total_down:,}** |")
print()
print(f"file: {size:,} bytes ({size / 1048576:g} MiB), posted to S3 as {posted:,} bytes; "
      f"through the web process: {(total_up + total_down) / 1024:.1f} KiB in both directions "
      f"({(total_up + total_down) / size * 100:.2f}% of the file)")
