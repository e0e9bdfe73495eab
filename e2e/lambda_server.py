#!/usr/bin/env python3
"""A minimal Lambda-compatible endpoint for the tests: the Invoke API's request
shape (POST /2015-03-31/functions/NAME/invocations), running rotator.handle, and a
function error reported with X-Amz-Function-Error as Lambda does. Prints its port.

Its environment (endpoint, credentials of its own) is read at each invocation from
the JSON file named by LAMBDA_ENV, as a runtime would configure it after start-up."""

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

import rotator


class Invoke(BaseHTTPRequestHandler):
    def do_POST(self):
        if not (self.path.startswith("/2015-03-31/functions/") and self.path.endswith("/invocations")):
            self.send_response(404)
            self.end_headers()
            return
        event = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
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
    print(server.server_address[1], flush=True)
    sys.stdout.close()
    server.serve_forever()
