#!/usr/bin/env python3
"""moto EC2 server whose DescribeInstanceTypes / DescribeInstanceTypeOfferings page like real EC2.

Why: moto (5.2) answers these two calls with every item (1,263 instance types in 5.2.1) in a
single response and ignores MaxResults/NextToken, so a client that forgets to follow
<nextToken> still passes against plain moto. Real EC2 pages them (MaxResults 5..100 for
DescribeInstanceTypes, 5..1000 for DescribeInstanceTypeOfferings). Our tests must
prove that the client follows pages.

What it changes, for those two actions only (form-encoded POST, as the AWS SDKs send):
  * MaxResults/NextToken are stripped before moto sees the request, so moto applies
    the filters and returns everything; the item set is then cut to the page asked
    for and <nextToken> is added while items remain. The rest of moto's XML is
    passed on byte for byte.
  * No MaxResults: everything comes back in one page, as with plain moto.
  * MaxResults out of range, or a bad NextToken: EC2-style 400 error.
  * Follow-up pages (with a NextToken) reuse the moto answer cached for the same
    query, so a 13-page listing costs one moto call rather than 13 (~1 s each).
  * GET /__paged_moto/stats returns the pages served per action as JSON;
    POST /__paged_moto/reset zeroes them. Neither path reaches moto.
Everything else goes to moto unchanged.

Usage: python3 paged_moto.py --port 0 --port-file /tmp/port [--verbose]
Listens on 127.0.0.1 only. Once it is serving, it writes the port to --port-file.
It stops cleanly (exit 0) on SIGTERM or SIGINT.
"""

import argparse
import base64
import binascii
import hashlib
import io
import json
import os
import signal
import sys
import threading
import time
import xml.parsers.expat
from collections import OrderedDict
from urllib.parse import parse_qsl, urlencode

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.test import Client

# Action -> (element holding the items in moto's answer, the largest MaxResults EC2 accepts)
PAGED = {
    "DescribeInstanceTypes": ("instanceTypeSet", 100),
    "DescribeInstanceTypeOfferings": ("instanceTypeOfferingSet", 1000),
}
MIN_RESULTS = 5  # EC2 rejects MaxResults below 5 for both actions
CACHE_SIZE = 8  # moto answers kept for follow-up pages (DescribeInstanceTypes is about 5 MB)
PAGING_PARAMS = ("MaxResults", "NextToken")


def log(msg):
    print(f"paged_moto: {msg}", file=sys.stderr, flush=True)


def split_items(body, set_name):
    """Split moto's XML into (head, [item, ...], tail) without re-serializing it.

    expat gives the byte offset of each tag, so every child of <set_name> (a child
    of the root) is sliced out of the original bytes. This keeps the namespace and
    formatting exactly as moto produced them.
    """
    parser = xml.parsers.expat.ParserCreate()
    depth, in_set, starts, end = 0, False, [], None

    def start(name, _attrs):
        nonlocal depth, in_set
        depth += 1
        if depth == 2 and name == set_name:
            in_set = True
        elif in_set and depth == 3:
            starts.append(parser.CurrentByteIndex)

    def stop(name):
        nonlocal depth, in_set, end
        if in_set and depth == 2:
            in_set, end = False, parser.CurrentByteIndex  # offset of </set_name>
        depth -= 1

    parser.StartElementHandler, parser.EndElementHandler = start, stop
    parser.Parse(body, True)
    if not starts:  # no items at all (or no set element)
        return body, [], b""
    bounds = starts + [end]
    items = [body[a:b] for a, b in zip(bounds, bounds[1:])]
    return body[: starts[0]], items, body[end:]


def ec2_error(start_response, code, message):
    """Reply like EC2 does to a bad request (the SDKs parse this shape)."""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message>"
        "</Error></Errors><RequestID>paged-moto</RequestID></Response>"
    ).encode()
    start_response(
        "400 Bad Request",
        [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))],
    )
    return [body]


class PagedEC2:
    """WSGI middleware in front of moto's app; see the module docstring."""

    def __init__(self, moto_app):
        self.moto = moto_app
        self.lock = threading.Lock()
        self.stats = dict.fromkeys(PAGED, 0)
        self.cache = OrderedDict()  # query key -> (status, headers, head, items, tail)

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO", "").startswith("/__paged_moto/"):
            return self.control(environ, start_response)
        if environ.get("REQUEST_METHOD") != "POST" or not environ.get(
            "CONTENT_TYPE", ""
        ).startswith("application/x-www-form-urlencoded"):
            return self.moto(environ, start_response)

        body = read_body(environ)
        params = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
        action = dict(params).get("Action")
        if action not in PAGED:
            environ["wsgi.input"] = io.BytesIO(body)  # we consumed it; moto re-reads it
            return self.moto(environ, start_response)
        return self.paged(environ, start_response, action, params)

    def paged(self, environ, start_response, action, params):
        set_name, max_allowed = PAGED[action]
        args = dict(params)
        rest = [(k, v) for k, v in params if k not in PAGING_PARAMS]

        page_size = None
        if "MaxResults" in args:
            raw = args["MaxResults"]
            try:
                page_size = int(raw)
            except ValueError:
                return ec2_error(start_response, "InvalidParameterValue",
                                 f"Value ( {raw} ) for parameter MaxResults is invalid.")
            if page_size > max_allowed:
                return ec2_error(start_response, "InvalidParameterValue",
                                 f"Value ( {raw} ) for parameter MaxResults is invalid. "
                                 f"Expecting a value smaller than or equal to {max_allowed}.")
            if page_size < MIN_RESULTS:
                return ec2_error(start_response, "InvalidParameterValue",
                                 f"Value ( {raw} ) for parameter MaxResults is invalid. "
                                 f"Expecting a value greater than or equal to {MIN_RESULTS}.")

        # The key names the query without its paging: same credentials/region, same
        # action and filters. Tokens carry it, so a token only continues its own query.
        key = query_key(environ, rest)
        offset = 0
        token = args.get("NextToken")
        if token:
            offset = parse_token(token, key)
            if offset is None:
                return ec2_error(start_response, "InvalidPaginationToken",
                                 "The specified pagination token is not valid or is expired.")

        with self.lock:
            cached = self.cache.get(key) if token else None
        if cached is None:
            status, headers, body = call_app(self.moto, environ, urlencode(rest).encode())
            if not status.startswith("200"):  # moto's own error: pass it on untouched
                start_response(status, headers)
                return [body]
            cached = (status, headers) + split_items(body, set_name)
            with self.lock:
                self.cache[key] = cached
                self.cache.move_to_end(key)
                while len(self.cache) > CACHE_SIZE:
                    self.cache.popitem(last=False)
        status, headers, head, items, tail = cached

        if token and offset >= len(items):
            return ec2_error(start_response, "InvalidPaginationToken",
                             "The specified pagination token is not valid or is expired.")
        end = len(items) if page_size is None else offset + page_size
        body = head + b"".join(items[offset:end]) + tail
        if end < len(items):
            # Real EC2 puts <nextToken> beside the item set, inside the root element.
            close_root = body.rindex(b"</")
            body = b"%s<nextToken>%s</nextToken>%s" % (
                body[:close_root], make_token(key, end).encode(), body[close_root:])

        with self.lock:
            self.stats[action] += 1
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        start_response(status, headers + [("Content-Length", str(len(body)))])
        return [body]

    def control(self, environ, start_response):
        path, method = environ["PATH_INFO"], environ["REQUEST_METHOD"]
        with self.lock:
            if path == "/__paged_moto/stats" and method == "GET":
                status, out = "200 OK", dict(self.stats)
            elif path == "/__paged_moto/reset" and method == "POST":
                self.stats = dict.fromkeys(PAGED, 0)
                status, out = "200 OK", dict(self.stats)
            else:
                status, out = "404 Not Found", {"error": f"no {method} {path}"}
        body = json.dumps(out).encode()
        start_response(status, [("Content-Type", "application/json"),
                                 ("Content-Length", str(len(body)))])
        return [body]


def read_body(environ):
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH")
    if length:
        return stream.read(int(length))
    # Chunked uploads: werkzeug marks the stream as ending by itself.
    return stream.read() if environ.get("wsgi.input_terminated") else b""


def call_app(app, environ, body):
    """Run the WSGI app on a copy of the request with a new body; collect the answer."""
    env = dict(environ, CONTENT_LENGTH=str(len(body)), **{"wsgi.input": io.BytesIO(body)})
    got, chunks = {}, []

    def start_response(status, headers, exc_info=None):
        got["status"], got["headers"] = status, headers
        return chunks.append

    result = app(env, start_response)
    try:
        chunks.extend(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    return got["status"], got["headers"], b"".join(chunks)


def query_key(environ, params):
    # Credential scope "AKID/date/region/service/aws4_request": moto picks the account
    # from the access key and the region from the scope; the date does not matter.
    auth = environ.get("HTTP_AUTHORIZATION", "")
    scope = auth.partition("Credential=")[2].split(",")[0].split("/")
    who = "/".join(scope[:1] + scope[2:3])
    return hashlib.sha256(repr((who, sorted(params))).encode()).hexdigest()[:16]


def make_token(key, offset):
    return base64.urlsafe_b64encode(f"paged-moto:{key}:{offset}".encode()).decode()


def parse_token(token, key):
    """Offset encoded in the token, or None if it is not one of ours for this query."""
    try:
        tag, tkey, offset = base64.urlsafe_b64decode(token).decode().split(":")
        offset = int(offset)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return offset if tag == "paged-moto" and tkey == key and offset > 0 else None


class QuietHandler(WSGIRequestHandler):
    verbose = False

    def log_request(self, *args, **kwargs):
        if self.verbose:
            super().log_request(*args, **kwargs)


def warm_up(app):
    """Build moto's EC2 app and us-east-1 backend now (~1 s) so the first real
    request is not the slow one. Goes to moto directly, so the stats stay at zero."""
    auth = ("AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/ec2/aws4_request, "
            "SignedHeaders=host, Signature=0")
    resp = Client(app).post(
        "/", data="Action=DescribeRegions&Version=2016-11-15",
        headers={"Authorization": auth,
                 "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    if resp.status_code != 200:
        raise RuntimeError(f"moto warm-up failed: {resp.status}")


def write_atomically(path, text):
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)  # readers see no file or the whole file, never a partial one


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True, help="0 = pick a free port")
    ap.add_argument("--port-file", required=True, help="the port is written here once serving")
    ap.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = ap.parse_args()

    t0 = time.monotonic()
    if os.path.exists(args.port_file):
        os.remove(args.port_file)  # so nobody reads a port from an earlier run

    # Block SIGTERM/SIGINT in every thread (threads inherit this mask) and take
    # them with sigwait() below: the main thread can then shut down the server
    # without a signal handler racing the code it interrupts.
    stop_signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)

    moto_app = DomainDispatcherApplication(create_backend_app)
    QuietHandler.verbose = args.verbose
    server = make_server("127.0.0.1", args.port, PagedEC2(moto_app),
                         threaded=True, request_handler=QuietHandler)
    port = server.server_port
    os.environ["MOTO_PORT"] = str(port)  # as moto's own server does; some backends read it
    threading.Thread(target=server.serve_forever, name="serve", daemon=True).start()

    warm_up(moto_app)
    write_atomically(args.port_file, f"{port}\n")
    log(f"serving on 127.0.0.1:{port} (ready in {time.monotonic() - t0:.1f}s)")

    sig = signal.sigwait(stop_signals)
    log(f"got {signal.Signals(sig).name}, stopping")
    server.shutdown()  # waits for serve_forever to return (it polls every 0.5 s)
    server.server_close()
    try:
        os.remove(args.port_file)
    except FileNotFoundError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
