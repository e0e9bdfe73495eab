#!/usr/bin/env python3
"""A minimal Lambda-compatible endpoint for the tests: the Invoke API's request
shape (POST /2015-03-31/functions/NAME/invocations), running rotator.handle, and a
function error reported with X-Amz-Function-Error as Lambda does. Prints its port.

Its environment (endpoint, credentials of its own) is read at each invocation from
the JSON file named by LAMBDA_ENV, as a runtime would configure it after start-up.

With LAMBDA_TLS_CERT and LAMBDA_TLS_KEY it serves HTTPS; with LAMBDA_SIGV4
("ACCESS_KEY_ID:SECRET") it checks each call's SigV4 signature for `lambda` as
the Invoke API does (botocore computes the expected one), answers 403 to a call
without a valid one, and counts the calls it checked in LAMBDA_SIGV4_LOG."""

import hmac
import json
import os
import re
import ssl
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

import rotator

AUTH = re.compile(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/lambda/aws4_request, "
                  r"SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$")


def signed_correctly(handler, body):
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    akid, secret = os.environ["LAMBDA_SIGV4"].split(":", 1)
    m = AUTH.match(handler.headers.get("Authorization", ""))
    if not m or m[1] != akid or "host" not in m[4].split(";"):
        return False
    headers = {h: handler.headers[h] for h in m[4].split(";")}
    scheme = "https" if os.environ.get("LAMBDA_TLS_CERT") else "http"
    req = AWSRequest(method="POST", url=f"{scheme}://{headers['host']}{handler.path}",
                     data=body, headers=headers)
    req.context["timestamp"] = handler.headers["X-Amz-Date"]
    auth = SigV4Auth(Credentials(akid, secret), "lambda", m[3])
    expected = auth.signature(auth.string_to_sign(req, auth.canonical_request(req)), req)
    return hmac.compare_digest(expected, m[5])


class Invoke(BaseHTTPRequestHandler):
    def do_POST(self):
        if not (self.path.startswith("/2015-03-31/functions/") and self.path.endswith("/invocations")):
            self.send_response(404)
            self.end_headers()
            return
        raw = self.rfile.read(int(self.headers["Content-Length"]))
        if os.environ.get("LAMBDA_SIGV4"):
            if not signed_correctly(self, raw):
                self.send_response(403)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            with open(os.environ["LAMBDA_SIGV4_LOG"], "a") as f:
                f.write("verified\n")
        event = json.loads(raw)
        with open(os.environ["LAMBDA_ENV"]) as f:
            os.environ.update(json.load(f))
        error = None
        try:
            rotator.handle(event)
        except SystemExit as e:
            error = {"errorType": "Exit", "errorMessage": f"exit {e.code}"}
        except Exception as e:  # the Lambda runtime's behaviour: report, don't crash
            error = {"errorType": type(e).__name__, "errorMessage": str(e)}
        body = json.dumps(error).encode()
        self.send_response(200)
        if error:
            self.send_header("X-Amz-Function-Error", "Unhandled")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    server = HTTPServer(("127.0.0.1", 0), Invoke)
    if os.environ.get("LAMBDA_TLS_CERT"):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.environ["LAMBDA_TLS_CERT"], os.environ["LAMBDA_TLS_KEY"])
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    print(server.server_address[1], flush=True)
    sys.stdout.close()
    server.serve_forever()
