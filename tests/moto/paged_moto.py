#!/usr/bin/env python3
"""moto EC2 server that pages like real EC2 and stands in for placement groups.

Why: moto (5.2) answers DescribeInstanceTypes, DescribeInstanceTypeOfferings and
DescribeSecurityGroups with every item (1,263 instance types in 5.2.1, 1,395 in 5.2.5)
in a single response and ignores MaxResults/NextToken, so a client that forgets to
follow <nextToken> still passes against plain moto. Real EC2 pages them (MaxResults
5..100 for DescribeInstanceTypes, 5..1000 for the other two). Our tests must prove
that the client follows pages. And moto (5.2.1 to 5.2.5) has no placement groups at
all: CreatePlacementGroup and DescribePlacementGroups end in a 500 HTML page
("NotImplementedError: The ... action has not been implemented"). The checks of
cluster placement groups need something that answers as EC2 would.

Paging, for those three actions (form-encoded POST, as the AWS SDKs send):
  * MaxResults/NextToken are stripped before moto sees the request, so moto applies
    the filters and returns everything; the item set is then cut to the page asked
    for and <nextToken> is added while items remain. The rest of moto's XML is
    passed on byte for byte.
  * No MaxResults: everything comes back in one page, as with plain moto.
  * MaxResults out of range, or a bad NextToken: EC2-style 400 error.
  * DescribeSecurityGroups mimics EC2 in refusing MaxResults together with GroupIds
    (InvalidParameterCombination; the wording is modelled on the one EC2 gives for
    DescribeInstances). MaxResults with GroupNames or Filters is accepted.
  * Follow-up pages (with a NextToken) reuse the moto answer cached for the same
    query, so a 13-page listing costs one moto call rather than 13 (~1 s each). A
    security group created while a listing is under way may therefore be missed by
    that listing; a new listing (no NextToken) always asks moto afresh.

Placement groups (CreatePlacementGroup, DescribePlacementGroups, DeletePlacementGroup)
are answered here and never reach moto, because moto has nothing for them:
  * in memory, per region (from the SigV4 credential scope; us-east-1 if there is
    none), for moto's default account 123456789012; POST /moto-api/reset (moto's own
    reset) empties them too.
  * strategies cluster, spread (SpreadLevel rack|host, default rack) and partition
    (PartitionCount 1..7, default 2); tags from TagSpecification (placement-group).
    Groups are "available" at once, and DeletePlacementGroup removes them at once.
  * DescribePlacementGroups takes GroupName.N, GroupId.N and the filters group-name,
    group-arn, strategy, state, spread-level, tag-key and tag:KEY (values may use the
    * and ? wildcards). A name or ID asked for that does not exist is an error
    (InvalidPlacementGroup.Unknown), as in EC2. EC2's DescribePlacementGroups has no
    MaxResults/NextToken (the API model has neither and no SDK can send them), so
    this one does not page: those parameters, like any other the action does not
    have, get EC2's UnknownParameter error.
  * errors: InvalidPlacementGroup.Duplicate, InvalidPlacementGroup.Unknown,
    InvalidPlacementGroupId.Malformed, InvalidParameterValue, MissingParameter,
    InvalidParameterCombination, DryRunOperation. Parameters EC2 has but this stand-in
    does not model (ParentGroupId, LinkedGroupId, Operator, strategy precision-time)
    are refused with UnsupportedOperation rather than silently ignored.
  * answers and errors use EC2's own XML (namespace
    http://ec2.amazonaws.com/doc/2016-11-15/, <requestId>, <placementGroupSet>;
    <Response><Errors><Error>... for errors), which the SDKs parse.

Also: GET /__paged_moto/stats returns the answers served per action as JSON (pages,
for the paged actions); POST /__paged_moto/reset zeroes them. Neither path reaches
moto. Everything else goes to moto unchanged.

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
import re
import signal
import sys
import threading
import time
import uuid
import xml.parsers.expat
from collections import OrderedDict
from urllib.parse import parse_qsl, urlencode
from xml.sax.saxutils import escape

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.test import Client

# Action -> (element holding the items in moto's answer, the largest MaxResults EC2 accepts)
PAGED = {
    "DescribeInstanceTypes": ("instanceTypeSet", 100),
    "DescribeInstanceTypeOfferings": ("instanceTypeOfferingSet", 1000),
    "DescribeSecurityGroups": ("securityGroupInfo", 1000),
}
MIN_RESULTS = 5  # EC2 rejects MaxResults below 5 for all three actions
CACHE_SIZE = 8  # moto answers kept for follow-up pages (DescribeInstanceTypes is about 5 MB)
PAGING_PARAMS = ("MaxResults", "NextToken")
# Action -> (form keys EC2 refuses beside MaxResults, their name in EC2's message)
NOT_WITH_MAX_RESULTS = {"DescribeSecurityGroups": ("GroupId.", "groupIds")}

PLACEMENT_ACTIONS = ("CreatePlacementGroup", "DescribePlacementGroups", "DeletePlacementGroup")
EC2_NS = "http://ec2.amazonaws.com/doc/2016-11-15/"
ACCOUNT = "123456789012"  # moto's default account, which every dummy access key maps to
DEFAULT_REGION = "us-east-1"  # moto's choice too when a request carries no credential scope
STRATEGIES = ("cluster", "spread", "partition")
MAX_PARTITIONS = 7
# The parameters each action takes (besides Action, Version and DryRun), as regexes.
PLACEMENT_PARAMS = {
    "CreatePlacementGroup": re.compile(
        r"GroupName|Strategy|PartitionCount|SpreadLevel"
        r"|TagSpecification\.\d+\.(ResourceType|Tag\.\d+\.(Key|Value))"),
    "DescribePlacementGroups": re.compile(
        r"GroupName\.\d+|GroupId\.\d+|Filter\.\d+\.(Name|Value\.\d+)"),
    "DeletePlacementGroup": re.compile(r"GroupName"),
}
# EC2 has these, this stand-in does not model them: refused rather than ignored.
NOT_MODELLED = re.compile(r"ParentGroupId|LinkedGroupId|Operator(\..*)?")
COUNTED = tuple(PAGED) + PLACEMENT_ACTIONS  # the actions /__paged_moto/stats counts


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


def ec2_error(start_response, code, message, status="400 Bad Request"):
    """Reply like EC2 does to a bad request (the SDKs parse this shape)."""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Response><Errors><Error><Code>{code}</Code><Message>{escape(message)}</Message>"
        f"</Error></Errors><RequestID>{uuid.uuid4()}</RequestID></Response>"
    ).encode()
    return xml_answer(start_response, body, status)


def xml_answer(start_response, body, status="200 OK"):
    start_response(status, [("Content-Type", "text/xml;charset=UTF-8"),
                            ("Content-Length", str(len(body)))])
    return [body]


class EC2Error(Exception):
    def __init__(self, code, message, status="400 Bad Request"):
        super().__init__(code, message)
        self.code, self.message, self.status = code, message, status


class PagedEC2:
    """WSGI middleware in front of moto's app; see the module docstring."""

    def __init__(self, moto_app):
        self.moto = moto_app
        self.lock = threading.Lock()
        self.stats = dict.fromkeys(COUNTED, 0)
        self.cache = OrderedDict()  # query key -> (status, headers, head, items, tail)
        self.placement_groups = PlacementGroups()

    def __call__(self, environ, start_response):
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD")
        if path.startswith("/__paged_moto/"):
            return self.control(environ, start_response)
        if path == "/moto-api/reset" and method == "POST":
            self.placement_groups.reset()  # moto forgets its state: so does the stand-in
            return self.moto(environ, start_response)
        if method != "POST" or not environ.get(
            "CONTENT_TYPE", ""
        ).startswith("application/x-www-form-urlencoded"):
            return self.moto(environ, start_response)

        body = read_body(environ)
        params = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
        action = dict(params).get("Action")
        if action in PAGED:
            return self.paged(environ, start_response, action, params)
        if action in PLACEMENT_ACTIONS:
            return self.placement(environ, start_response, action, params)
        environ["wsgi.input"] = io.BytesIO(body)  # we consumed it; moto re-reads it
        return self.moto(environ, start_response)

    def placement(self, environ, start_response, action, params):
        try:
            body = self.placement_groups.answer(action, scope_region(environ), params)
        except EC2Error as e:
            return ec2_error(start_response, e.code, e.message, e.status)
        with self.lock:
            self.stats[action] += 1
        return xml_answer(start_response, body)

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
            prefix, name = NOT_WITH_MAX_RESULTS.get(action, (None, None))
            if prefix and any(k.startswith(prefix) for k in args):
                return ec2_error(start_response, "InvalidParameterCombination",
                                 f"The parameter {name} cannot be used with the parameter "
                                 "maxResults")

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
                self.stats = dict.fromkeys(COUNTED, 0)
                status, out = "200 OK", dict(self.stats)
            else:
                status, out = "404 Not Found", {"error": f"no {method} {path}"}
        body = json.dumps(out).encode()
        start_response(status, [("Content-Type", "application/json"),
                                 ("Content-Length", str(len(body)))])
        return [body]


class PlacementGroups:
    """The placement-group stand-in (moto has none); see the module docstring."""

    def __init__(self):
        self.lock = threading.Lock()
        self.regions = {}  # region -> {name: group}, in creation order

    def reset(self):
        with self.lock:
            self.regions = {}

    def answer(self, action, region, params):
        """The XML answer to one request, or EC2Error."""
        args = dict(params)
        for key in args:
            if key in ("Action", "Version", "DryRun"):
                continue
            if action == "CreatePlacementGroup" and NOT_MODELLED.fullmatch(key):
                raise EC2Error("UnsupportedOperation",
                               f"paged_moto does not model the parameter {key}")
            if not PLACEMENT_PARAMS[action].fullmatch(key):
                raise EC2Error("UnknownParameter", f"The parameter {key} is not recognized")
        dry_run = args.get("DryRun", "").lower() == "true"
        with self.lock:
            groups = self.regions.setdefault(region, {})
            if action == "CreatePlacementGroup":
                group = new_group(region, args, groups)
                check_dry_run(dry_run)
                groups[group["name"]] = group
                inner = f"<return>true</return><placementGroup>{group_xml(group)}</placementGroup>"
            elif action == "DescribePlacementGroups":
                found = select_groups(groups, args)
                check_dry_run(dry_run)
                inner = "<placementGroupSet>%s</placementGroupSet>" % "".join(
                    f"<item>{group_xml(g)}</item>" for g in found)
            else:  # DeletePlacementGroup
                name = args.get("GroupName", "")
                if not name:
                    raise EC2Error("MissingParameter",
                                   "The request must contain the parameter groupName")
                if name not in groups:
                    raise unknown_group(name)
                check_dry_run(dry_run)
                del groups[name]
                inner = "<return>true</return>"
        return (f'<?xml version="1.0" encoding="UTF-8"?>\n<{action}Response xmlns="{EC2_NS}">'
                f"<requestId>{uuid.uuid4()}</requestId>{inner}</{action}Response>").encode()


def check_dry_run(dry_run):
    if dry_run:
        raise EC2Error("DryRunOperation", "Request would have succeeded, but DryRun flag is set.",
                       "412 Precondition Failed")


def unknown_group(name):
    return EC2Error("InvalidPlacementGroup.Unknown", f"The Placement Group '{name}' is unknown.")


def new_group(region, args, groups):
    """A group made from CreatePlacementGroup's parameters, checked as EC2 checks them."""
    name = args.get("GroupName", "")
    if not name:
        raise EC2Error("MissingParameter", "The request must contain the parameter groupName")
    if len(name) > 255 or not name.isascii():
        raise EC2Error("InvalidParameterValue",
                       f"Value ({name}) for parameter groupName is invalid. "
                       "Expecting up to 255 ASCII characters.")
    strategy = args.get("Strategy", "")
    if not strategy:
        raise EC2Error("MissingParameter", "The request must contain the parameter strategy")
    if strategy == "precision-time":
        raise EC2Error("UnsupportedOperation",
                       "paged_moto does not model the strategy precision-time")
    if strategy not in STRATEGIES:
        raise EC2Error("InvalidParameterValue",
                       f"Value ({strategy}) for parameter strategy is invalid. "
                       f"Valid values are: {', '.join(STRATEGIES)}.")

    partition_count = None
    if "PartitionCount" in args:
        if strategy != "partition":
            raise EC2Error("InvalidParameterCombination",
                           "The parameter partitionCount can be used only with the "
                           "partition strategy")
        raw = args["PartitionCount"]
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_PARTITIONS:
            raise EC2Error("InvalidParameterValue",
                           f"Value ({raw}) for parameter partitionCount is invalid. "
                           f"Expecting a value from 1 to {MAX_PARTITIONS}.")
        partition_count = int(raw)
    elif strategy == "partition":
        partition_count = 2

    spread_level = None
    if "SpreadLevel" in args:
        if strategy != "spread":
            raise EC2Error("InvalidParameterCombination",
                           "The parameter spreadLevel can be used only with the "
                           "spread strategy")
        spread_level = args["SpreadLevel"]
        if spread_level not in ("host", "rack"):
            raise EC2Error("InvalidParameterValue",
                           f"Value ({spread_level}) for parameter spreadLevel is invalid. "
                           "Valid values are: host, rack.")
    elif strategy == "spread":
        spread_level = "rack"

    tags = []
    for n in indexes(args, "TagSpecification", r"\.ResourceType|\.Tag\.\d+\.(Key|Value)"):
        spec = f"TagSpecification.{n}"
        kind = args.get(f"{spec}.ResourceType", "")
        if kind != "placement-group":
            raise EC2Error("InvalidParameterValue",
                           f"'{kind}' is not a valid taggable resource type for this "
                           "operation.")
        for m in indexes(args, f"{spec}.Tag", r"\.(Key|Value)"):
            tags.append((args.get(f"{spec}.Tag.{m}.Key", ""),
                         args.get(f"{spec}.Tag.{m}.Value", "")))

    if name in groups:
        raise EC2Error("InvalidPlacementGroup.Duplicate",
                       f"The Placement Group '{name}' already exists.")
    return {
        "name": name,
        "id": "pg-" + uuid.uuid4().hex[:17],
        "arn": f"arn:{partition(region)}:ec2:{region}:{ACCOUNT}:placement-group/{name}",
        "strategy": strategy,
        "state": "available",
        "partition_count": partition_count,
        "spread_level": spread_level,
        "tags": tags,
    }


def select_groups(groups, args):
    """DescribePlacementGroups: the groups named or ID'd (all if neither), then filtered."""
    names = indexed(args, "GroupName")
    ids = indexed(args, "GroupId")
    for name in names:
        if name not in groups:
            raise unknown_group(name)
    by_id = {g["id"]: g for g in groups.values()}
    for gid in ids:
        if not re.fullmatch(r"pg-[0-9a-f]{8}([0-9a-f]{9})?", gid):
            raise EC2Error("InvalidPlacementGroupId.Malformed",
                           f'Invalid id: "{gid}" (expecting "pg-...")')
        if gid not in by_id:
            raise EC2Error("InvalidPlacementGroup.Unknown",
                           f"The Placement Group ID '{gid}' is unknown.")
    found = [g for g in groups.values()
             if not (names or ids) or g["name"] in names or g["id"] in ids]
    for n in indexes(args, "Filter", r"\.Name|\.Value\.\d+"):
        fname = args.get(f"Filter.{n}.Name", "")
        filter_values(PROBE_GROUP, fname)  # refuses an unknown filter even if nothing is left
        patterns = indexed(args, f"Filter.{n}.Value")
        found = [g for g in found
                 if any(wildcard(p, v) for p in patterns for v in filter_values(g, fname))]
    return found


PROBE_GROUP = {"name": "", "arn": "", "strategy": "", "state": "", "spread_level": None,
               "tags": []}


def filter_values(group, fname):
    """The values of one group that the filter fname looks at."""
    simple = {"group-name": "name", "group-arn": "arn", "strategy": "strategy",
              "state": "state", "spread-level": "spread_level"}
    if fname in simple:
        value = group[simple[fname]]
        return [] if value is None else [value]
    if fname == "tag-key":
        return [k for k, _ in group["tags"]]
    if fname.startswith("tag:"):
        return [v for k, v in group["tags"] if k == fname[4:]]
    raise EC2Error("InvalidParameterValue", f"The filter '{fname}' is invalid")


def wildcard(pattern, text):
    """EC2 filter values: * is any run of characters, ? any one character."""
    rx = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(rx, text, re.DOTALL) is not None


def indexes(args, prefix, rest):
    """The N of every "prefix.N<rest>" key, in numeric order."""
    rx = re.compile(re.escape(prefix) + r"\.(\d+)(?:" + rest + ")")
    return sorted({int(m.group(1)) for k in args if (m := rx.fullmatch(k))})


def indexed(args, prefix):
    """The values of "prefix.1", "prefix.2", ... in numeric order (EC2's lists)."""
    return [args[f"{prefix}.{n}"] for n in indexes(args, prefix, "")]


def group_xml(g):
    out = [f"<groupName>{escape(g['name'])}</groupName>",
           f"<state>{g['state']}</state>",
           f"<strategy>{g['strategy']}</strategy>",
           f"<groupId>{g['id']}</groupId>",
           f"<groupArn>{escape(g['arn'])}</groupArn>"]
    if g["partition_count"] is not None:
        out.append(f"<partitionCount>{g['partition_count']}</partitionCount>")
    if g["spread_level"] is not None:
        out.append(f"<spreadLevel>{g['spread_level']}</spreadLevel>")
    tags = "".join(f"<item><key>{escape(k)}</key><value>{escape(v)}</value></item>"
                   for k, v in g["tags"])
    out.append(f"<tagSet>{tags}</tagSet>" if tags else "<tagSet/>")
    return "".join(out)


def partition(region):
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


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


def credential_scope(environ):
    # Credential scope "AKID/date/region/service/aws4_request": moto picks the account
    # from the access key and the region from the scope; the date does not matter.
    auth = environ.get("HTTP_AUTHORIZATION", "")
    return auth.partition("Credential=")[2].split(",")[0].strip().split("/")


def scope_region(environ):
    scope = credential_scope(environ)
    return scope[2] if len(scope) > 2 and scope[2] else DEFAULT_REGION


def query_key(environ, params):
    scope = credential_scope(environ)
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
