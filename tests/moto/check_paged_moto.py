#!/usr/bin/env python3
"""Self-test for paged_moto.py, using boto3 as the client.

Run: python3 tests/moto/check_paged_moto.py
Starts paged_moto.py on a free port, checks paging, filters, limits, the offerings of
hpc6a.48xlarge, the stats endpoint and a clean SIGTERM exit, then prints some figures.
"""

import concurrent.futures
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(HERE, "paged_moto.py")


def start_server(tmp):
    port_file = os.path.join(tmp, "port")
    stderr = open(os.path.join(tmp, "stderr"), "w+")
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, SERVER, "--port", "0", "--port-file", port_file],
        stdout=subprocess.DEVNULL, stderr=stderr)
    while not os.path.exists(port_file):
        if proc.poll() is not None:
            stderr.seek(0)
            sys.exit(f"server died (rc {proc.returncode}):\n{stderr.read()}")
        if time.monotonic() - t0 > 60:
            proc.kill()
            sys.exit("server not ready after 60 s")
        time.sleep(0.05)
    with open(port_file) as f:
        port = int(f.read())
    return proc, port, time.monotonic() - t0, stderr


def main():
    # Dummy credentials only; never read the user's AWS config.
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        os.environ.pop(var, None)
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                      AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")

    with tempfile.TemporaryDirectory() as tmp:
        proc, port, ready_s, stderr = start_server(tmp)
        base = f"http://127.0.0.1:{port}"
        try:
            figures = run_checks(base)
        except BaseException:
            proc.kill()
            proc.wait()
            stderr.seek(0)
            print("server stderr:\n" + stderr.read(), file=sys.stderr)
            raise

        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=15)
        stderr.seek(0)
        log = stderr.read()
        assert rc == 0, f"server exit code {rc}\n{log}"
        assert "HTTP/1.1" not in log, f"access log lines without --verbose:\n{log}"
        assert not os.path.exists(os.path.join(tmp, "port")), "port file left behind"

    print(f"server ready in {ready_s:.1f}s")
    for name, value in figures.items():
        print(f"{name}: {value}")
    print("OK")


def ec2(base, region="us-east-1"):
    return boto3.client("ec2", region_name=region, endpoint_url=base)


def stats(base, reset=False):
    req = urllib.request.Request(
        f"{base}/__paged_moto/{'reset' if reset else 'stats'}",
        method="POST" if reset else "GET")
    with urllib.request.urlopen(req) as r:
        return json.load(r)


def pages(client, op, page_size, **kwargs):
    config = {"PageSize": page_size}  # boto3 sends it as MaxResults
    return list(client.get_paginator(op).paginate(PaginationConfig=config, **kwargs))


def type_names(pages_):
    return [t["InstanceType"] for p in pages_ for t in p["InstanceTypes"]]


def expect_error(code, call, **kwargs):
    try:
        call(**kwargs)
    except ClientError as e:
        got = e.response["Error"]["Code"]
        assert got == code, f"expected {code}, got {got}: {e}"
        assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        return
    raise AssertionError(f"expected {code} error")


def run_checks(base):
    client = ec2(base)
    assert stats(base) == {"DescribeInstanceTypes": 0, "DescribeInstanceTypeOfferings": 0}

    # Without MaxResults everything comes in one page, as with plain moto.
    t0 = time.monotonic()
    everything = client.describe_instance_types()
    unpaged_s = time.monotonic() - t0
    assert "NextToken" not in everything
    all_types = [t["InstanceType"] for t in everything["InstanceTypes"]]
    efa = sorted(t["InstanceType"] for t in everything["InstanceTypes"]
                 if t.get("NetworkInfo", {}).get("EfaSupported"))

    # Paged: several pages of at most 100, same items in the same order.
    stats(base, reset=True)
    t0 = time.monotonic()
    paged = pages(client, "describe_instance_types", 100)
    paged_s = time.monotonic() - t0
    assert len(paged) > 1, "expected more than one page"
    assert all(len(p["InstanceTypes"]) <= 100 for p in paged)
    assert all("NextToken" in p for p in paged[:-1]) and "NextToken" not in paged[-1]
    assert type_names(paged) == all_types, "paged listing differs from the unpaged one"
    assert stats(base)["DescribeInstanceTypes"] == len(paged)

    # Filters are applied by moto before slicing.
    efa_paged = pages(client, "describe_instance_types", 5,
                      Filters=[{"Name": "network-info.efa-supported", "Values": ["true"]}])
    assert sorted(type_names(efa_paged)) == efa, "filtered paging differs"
    assert len(efa_paged) > 1

    # Real EC2 limits.
    expect_error("InvalidParameterValue", client.describe_instance_types, MaxResults=101)
    # boto3 itself refuses MaxResults < 5, so switch its validation off to reach the server.
    lax = boto3.client("ec2", region_name="us-east-1", endpoint_url=base,
                       config=Config(parameter_validation=False))
    expect_error("InvalidParameterValue", lax.describe_instance_types, MaxResults=4)
    expect_error("InvalidParameterValue", client.describe_instance_type_offerings,
                 MaxResults=1001)
    expect_error("InvalidPaginationToken", client.describe_instance_types,
                 MaxResults=100, NextToken="bogus")
    # A token only continues the query that produced it.
    token = paged[0]["NextToken"]
    expect_error("InvalidPaginationToken", client.describe_instance_types, MaxResults=100,
                 NextToken=token, InstanceTypes=["m5.large"])

    # Offerings, paged: hpc6a.48xlarge is in us-east-2 only.
    stats(base, reset=True)
    offered, offering_pages = {}, 0
    for region in ("us-east-1", "us-east-2"):
        ps = pages(ec2(base, region), "describe_instance_type_offerings", 200,
                   LocationType="region")
        assert len(ps) > 1
        offering_pages += len(ps)
        offered[region] = {o["InstanceType"] for p in ps for o in p["InstanceTypeOfferings"]}
        assert all(o["Location"] == region
                   for p in ps for o in p["InstanceTypeOfferings"])
    assert "hpc6a.48xlarge" in offered["us-east-2"]
    assert "hpc6a.48xlarge" not in offered["us-east-1"]
    assert stats(base) == {"DescribeInstanceTypes": 0,
                           "DescribeInstanceTypeOfferings": offering_pages}

    # Several clients at once.
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(
            lambda _: type_names(pages(ec2(base), "describe_instance_types", 100)), range(4)))
    assert all(r == all_types for r in results)

    regions = sorted(r["RegionName"] for r in client.describe_regions()["Regions"])
    return {
        "instance types": len(all_types),
        "EFA-supported instance types": len(efa),
        "DescribeInstanceTypes pages at MaxResults=100": len(paged),
        "unpaged DescribeInstanceTypes call": f"{unpaged_s:.1f}s",
        "full paged DescribeInstanceTypes listing": f"{paged_s:.1f}s",
        "offerings (region) us-east-1 / us-east-2":
            f"{len(offered['us-east-1'])} / {len(offered['us-east-2'])}",
        f"DescribeRegions ({len(regions)})": " ".join(regions),
    }


if __name__ == "__main__":
    main()
