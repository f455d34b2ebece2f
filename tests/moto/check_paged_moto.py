#!/usr/bin/env python3
"""Self-test for paged_moto.py, using boto3 as the client.

Run: python3 tests/moto/check_paged_moto.py
Starts paged_moto.py on a free port, checks paging, filters, limits, the offerings of
hpc6a.48xlarge (by region) and p4d.24xlarge (by zone name and zone ID), security groups
with self-referencing rules listed across pages, the placement-group stand-in (over
boto3 and as raw XML), the stats endpoint and a clean SIGTERM exit, then prints some
figures (the us-east-1 zone name -> ID map among them).
"""

import concurrent.futures
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from urllib.parse import urlencode

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


def expect_error(code, call, status=400, **kwargs):
    try:
        call(**kwargs)
    except ClientError as e:
        got = e.response["Error"]["Code"]
        assert got == code, f"expected {code}, got {got}: {e}"
        assert e.response["ResponseMetadata"]["HTTPStatusCode"] == status
        return e.response["Error"]["Message"]
    raise AssertionError(f"expected {code} error")


def raw_post(base, params, region="us-east-1"):
    """POST a form as the SDKs do, without an SDK in the way: (HTTP status, XML root)."""
    auth = (f"AWS4-HMAC-SHA256 Credential=testing/20261205/{region}/ec2/aws4_request, "
            "SignedHeaders=host, Signature=0")
    req = urllib.request.Request(
        f"{base}/", data=urlencode(dict(params, Version="2016-11-15")).encode(),
        headers={"Authorization": auth,
                 "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, ET.fromstring(r.read())
    except urllib.error.HTTPError as e:
        return e.code, ET.fromstring(e.read())


COUNTED = {"DescribeInstanceTypes", "DescribeInstanceTypeOfferings", "DescribeSecurityGroups",
           "CreatePlacementGroup", "DescribePlacementGroups", "DeletePlacementGroup"}


def zeroes(**counts):
    return dict(dict.fromkeys(COUNTED, 0), **counts)


def run_checks(base):
    figures = check_instance_types(base)
    figures.update(check_zone_offerings(base))
    figures.update(check_security_groups(base))
    figures.update(check_placement_groups(base))  # last: it ends with moto's reset
    return figures


def check_instance_types(base):
    client = ec2(base)
    assert stats(base) == zeroes()

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
    assert stats(base) == zeroes(DescribeInstanceTypeOfferings=offering_pages)

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


def offerings(pages_):
    return [o for p in pages_ for o in p["InstanceTypeOfferings"]]


def check_zone_offerings(base):
    """Offerings by zone name and zone ID, paged, against DescribeAvailabilityZones."""
    client = ec2(base)
    zones = client.describe_availability_zones()["AvailabilityZones"]
    zone_id = {z["ZoneName"]: z["ZoneId"] for z in zones}
    assert sorted(zone_id) == [f"us-east-1{c}" for c in "abcdef"], zone_id
    assert len(set(zone_id.values())) == len(zone_id)

    stats(base, reset=True)
    served = 0
    got = {}
    for kind in ("availability-zone", "availability-zone-id"):
        # Whole listing at 1000 a page: the same items, in the same order, as unpaged.
        whole = client.describe_instance_type_offerings(LocationType=kind)
        assert "NextToken" not in whole
        ps = pages(client, "describe_instance_type_offerings", 1000, LocationType=kind)
        assert len(ps) > 1
        served += 1 + len(ps)
        assert offerings(ps) == whole["InstanceTypeOfferings"]
        assert all(o["LocationType"] == kind for o in offerings(ps))
        got[kind] = {(o["InstanceType"], o["Location"]) for o in offerings(ps)}
        # p4d.24xlarge, 5 a page, so even one type's zones take more than one page.
        ps = pages(client, "describe_instance_type_offerings", 5, LocationType=kind,
                   Filters=[{"Name": "instance-type", "Values": ["p4d.24xlarge"]}])
        served += len(ps)
        got[f"p4d {kind}"] = sorted(o["Location"] for o in offerings(ps))
        # Filters location=...: one zone, by its name or its ID.
        where = "us-east-1a" if kind == "availability-zone" else zone_id["us-east-1a"]
        ps = pages(client, "describe_instance_type_offerings", 100, LocationType=kind,
                   Filters=[{"Name": "location", "Values": [where]}])
        assert len(ps) > 1
        served += len(ps)
        assert all(o["Location"] == where for o in offerings(ps))
        assert {o["InstanceType"] for o in offerings(ps)} == {
            t for t, z in got[kind] if z == where}
    assert stats(base) == zeroes(DescribeInstanceTypeOfferings=served)

    assert got["p4d availability-zone"] == [f"us-east-1{c}" for c in "abcd"], got
    assert got["p4d availability-zone-id"] == sorted(
        zone_id[z] for z in got["p4d availability-zone"]), (got, zone_id)
    # moto keeps two tables, by zone name and by zone ID; where they disagree (through
    # its own name -> ID map) is shown, not asserted: it is moto's data, not the wrapper.
    by_name = {(t, zone_id[z]) for t, z in got["availability-zone"]}
    disagree = sorted({t for t, _ in by_name ^ got["availability-zone-id"]})
    return {
        "us-east-1 zone name -> ID": " ".join(f"{n}={i}" for n, i in sorted(zone_id.items())),
        "p4d.24xlarge us-east-1 zones by name / by ID":
            f"{' '.join(got['p4d availability-zone'])} / "
            f"{' '.join(got['p4d availability-zone-id'])}",
        "us-east-1 offerings by zone name / by zone ID":
            f"{len(got['availability-zone'])} / {len(got['availability-zone-id'])}",
        "us-east-1 types whose zone-name and zone-ID offerings disagree in moto's data":
            f"{len(disagree)}" + (f" (e.g. {' '.join(disagree[:6])})" if disagree else ""),
    }


def has_self_rule(permissions, group_id):
    return any(p["IpProtocol"] == "-1"
               and any(pair.get("GroupId") == group_id for pair in p["UserIdGroupPairs"])
               for p in permissions)


def check_security_groups(base):
    """EFA-style groups (all traffic to and from itself) listed across pages."""
    client = ec2(base)
    vpc = client.create_vpc(CidrBlock="10.77.0.0/16")["Vpc"]["VpcId"]
    made = []
    for i in range(12):
        gid = client.create_security_group(
            GroupName=f"efa-{i:02}", Description="EFA self-referencing", VpcId=vpc)["GroupId"]
        to_itself = [{"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": gid}]}]
        client.authorize_security_group_ingress(GroupId=gid, IpPermissions=to_itself)
        client.authorize_security_group_egress(GroupId=gid, IpPermissions=to_itself)
        made.append(gid)
    in_vpc = [{"Name": "vpc-id", "Values": [vpc]}]
    whole = client.describe_security_groups(Filters=in_vpc)
    assert "NextToken" not in whole
    assert len(whole["SecurityGroups"]) == 13, len(whole["SecurityGroups"])  # + the default

    stats(base, reset=True)
    ps = pages(client, "describe_security_groups", 5, Filters=in_vpc)
    assert [len(p["SecurityGroups"]) for p in ps] == [5, 5, 3]
    listed = [g for p in ps for g in p["SecurityGroups"]]
    assert listed == whole["SecurityGroups"], "paged listing differs from the unpaged one"
    by_id = {g["GroupId"]: g for g in listed}
    assert set(made) < set(by_id)
    for gid in made:
        g = by_id[gid]
        assert g["VpcId"] == vpc
        assert has_self_rule(g["IpPermissions"], gid), g
        assert has_self_rule(g["IpPermissionsEgress"], gid), g
    assert stats(base) == zeroes(DescribeSecurityGroups=3)

    # Every group of the region (the default VPC's too), paged: same as unpaged.
    everything = client.describe_security_groups()["SecurityGroups"]
    all_pages = pages(client, "describe_security_groups", 5)
    assert [g for p in all_pages for g in p["SecurityGroups"]] == everything
    assert len(all_pages) == -(-len(everything) // 5)

    # By ID: fine without MaxResults; EC2 refuses MaxResults beside GroupIds.
    one = client.describe_security_groups(GroupIds=[made[3]])["SecurityGroups"]
    assert [g["GroupId"] for g in one] == [made[3]]
    assert has_self_rule(one[0]["IpPermissions"], made[3])
    expect_error("InvalidParameterCombination", client.describe_security_groups,
                 GroupIds=[made[3]], MaxResults=5)
    expect_error("InvalidParameterValue", client.describe_security_groups, MaxResults=1001)
    lax = boto3.client("ec2", region_name="us-east-1", endpoint_url=base,
                       config=Config(parameter_validation=False))
    expect_error("InvalidParameterValue", lax.describe_security_groups, MaxResults=4)
    expect_error("InvalidPaginationToken", client.describe_security_groups,
                 MaxResults=5, NextToken=ps[0]["NextToken"])  # that token needs the filter
    # moto's own errors come through the paging untouched.
    expect_error("InvalidGroup.NotFound", client.describe_security_groups,
                 GroupIds=["sg-0123456789abcdef0"])
    return {"security groups in the EFA VPC / in us-east-1 (pages at 5)":
            f"{len(listed)} ({len(ps)}) / {len(everything)} ({len(all_pages)})"}


def pg_names(client, **kwargs):
    return [g["GroupName"] for g in client.describe_placement_groups(**kwargs)["PlacementGroups"]]


def check_placement_groups(base):
    """The placement-group stand-in: create, describe (filters, errors), delete, regions."""
    east1, east2 = ec2(base), ec2(base, "us-east-2")
    stats(base, reset=True)
    assert pg_names(east1) == []
    tags = [{"ResourceType": "placement-group", "Tags": [{"Key": "team", "Value": "ml"}]}]
    made = east1.create_placement_group(GroupName="efa-cluster", Strategy="cluster",
                                        TagSpecifications=tags)["PlacementGroup"]
    assert made["GroupName"] == "efa-cluster" and made["Strategy"] == "cluster"
    assert made["State"] == "available" and made["GroupId"].startswith("pg-")
    assert made["GroupArn"] == "arn:aws:ec2:us-east-1:123456789012:placement-group/efa-cluster"
    assert made["Tags"] == [{"Key": "team", "Value": "ml"}]
    assert "PartitionCount" not in made
    east1.create_placement_group(GroupName="efa-spread", Strategy="spread")
    east1.create_placement_group(GroupName="efa-partition", Strategy="partition",
                                 PartitionCount=3)
    east1.create_placement_group(GroupName="other-partition", Strategy="partition")
    east1.create_placement_group(GroupName="other-cluster", Strategy="cluster")

    every = east1.describe_placement_groups()["PlacementGroups"]
    assert [g["GroupName"] for g in every] == [
        "efa-cluster", "efa-spread", "efa-partition", "other-partition", "other-cluster"]
    got = {g["GroupName"]: g for g in every}
    assert got["efa-cluster"] == made
    assert got["efa-partition"]["PartitionCount"] == 3
    assert got["other-partition"]["PartitionCount"] == 2  # EC2's default
    assert got["efa-spread"]["SpreadLevel"] == "rack" and "PartitionCount" not in got["efa-spread"]
    assert len({g["GroupId"] for g in every}) == 5

    # Names, IDs, filters (AND between filters, OR between values, * and ? wildcards).
    assert pg_names(east1, GroupNames=["other-cluster", "efa-spread"]) == [
        "efa-spread", "other-cluster"]
    assert pg_names(east1, GroupIds=[got["efa-partition"]["GroupId"]]) == ["efa-partition"]
    cluster = [{"Name": "strategy", "Values": ["cluster"]}]
    assert pg_names(east1, Filters=cluster) == ["efa-cluster", "other-cluster"]
    assert pg_names(east1, Filters=cluster + [
        {"Name": "group-name", "Values": ["efa-*"]}]) == ["efa-cluster"]
    assert pg_names(east1, Filters=[{"Name": "strategy", "Values": ["spread", "partition"]}]) \
        == ["efa-spread", "efa-partition", "other-partition"]
    assert pg_names(east1, Filters=[{"Name": "group-name", "Values": ["?fa-spread"]}]) \
        == ["efa-spread"]
    assert len(pg_names(east1, Filters=[{"Name": "state", "Values": ["available"]}])) == 5
    assert pg_names(east1, Filters=[{"Name": "state", "Values": ["pending"]}]) == []
    assert pg_names(east1, Filters=[{"Name": "tag:team", "Values": ["ml"]}]) == ["efa-cluster"]
    assert pg_names(east1, Filters=[{"Name": "tag-key", "Values": ["team"]}]) == ["efa-cluster"]
    assert pg_names(east1, Filters=[{"Name": "group-arn", "Values": [made["GroupArn"]]}]) \
        == ["efa-cluster"]
    assert pg_names(east1, Filters=[{"Name": "spread-level", "Values": ["rack"]}]) \
        == ["efa-spread"]
    assert pg_names(east1, GroupNames=["efa-cluster", "efa-spread"], Filters=cluster) \
        == ["efa-cluster"]

    # EC2's errors.
    msg = expect_error("InvalidPlacementGroup.Duplicate", east1.create_placement_group,
                       GroupName="efa-cluster", Strategy="cluster")
    assert "efa-cluster" in msg
    expect_error("InvalidPlacementGroup.Duplicate", east1.create_placement_group,
                 GroupName="efa-cluster", Strategy="spread")
    expect_error("InvalidParameterValue", east1.create_placement_group,
                 GroupName="bad", Strategy="bunched")
    expect_error("InvalidParameterValue", east1.create_placement_group,
                 GroupName="bad", Strategy="partition", PartitionCount=8)
    expect_error("InvalidParameterCombination", east1.create_placement_group,
                 GroupName="bad", Strategy="cluster", PartitionCount=2)
    expect_error("DryRunOperation", east1.create_placement_group, status=412,
                 GroupName="dry", Strategy="cluster", DryRun=True)
    msg = expect_error("InvalidPlacementGroup.Unknown", east1.describe_placement_groups,
                       GroupNames=["nope"])
    assert "nope" in msg
    expect_error("InvalidPlacementGroup.Unknown", east1.describe_placement_groups,
                 GroupNames=["efa-cluster", "nope"])
    expect_error("InvalidPlacementGroup.Unknown", east1.describe_placement_groups,
                 GroupIds=["pg-0123456789abcdef0"])
    expect_error("InvalidPlacementGroupId.Malformed", east1.describe_placement_groups,
                 GroupIds=["sg-0123456789abcdef0"])
    expect_error("InvalidParameterValue", east1.describe_placement_groups,
                 Filters=[{"Name": "colour", "Values": ["red"]}])
    expect_error("InvalidPlacementGroup.Unknown", east1.delete_placement_group,
                 GroupName="nope")
    assert pg_names(east1, GroupNames=["efa-cluster"]) == ["efa-cluster"]  # none of it stuck

    # Per region: us-east-2 has none of them, and may reuse a name.
    assert pg_names(east2) == []
    expect_error("InvalidPlacementGroup.Unknown", east2.describe_placement_groups,
                 GroupNames=["efa-cluster"])
    there = east2.create_placement_group(GroupName="efa-cluster",
                                         Strategy="cluster")["PlacementGroup"]
    assert there["GroupArn"] == "arn:aws:ec2:us-east-2:123456789012:placement-group/efa-cluster"
    assert there["GroupId"] != made["GroupId"]

    # Delete.
    east1.delete_placement_group(GroupName="other-partition")
    expect_error("InvalidPlacementGroup.Unknown", east1.describe_placement_groups,
                 GroupNames=["other-partition"])
    assert len(pg_names(east1)) == 4 and pg_names(east2) == ["efa-cluster"]

    # The XML itself, as the Rust SDK reads it.
    ns = "{http://ec2.amazonaws.com/doc/2016-11-15/}"
    status, root = raw_post(base, {"Action": "DescribePlacementGroups",
                                   "GroupName.1": "efa-partition"})
    assert status == 200 and root.tag == f"{ns}DescribePlacementGroupsResponse"
    assert root.findtext(f"{ns}requestId")
    items = root.findall(f"{ns}placementGroupSet/{ns}item")
    assert len(items) == 1
    fields = {e.tag[len(ns):]: e.text for e in items[0]}
    assert fields == {"groupName": "efa-partition", "state": "available",
                      "strategy": "partition", "groupId": got["efa-partition"]["GroupId"],
                      "groupArn": got["efa-partition"]["GroupArn"], "partitionCount": "3",
                      "tagSet": None}, fields
    status, root = raw_post(base, {"Action": "CreatePlacementGroup", "GroupName": "raw",
                                   "Strategy": "cluster"}, region="eu-west-1")
    assert status == 200 and root.tag == f"{ns}CreatePlacementGroupResponse"
    assert root.findtext(f"{ns}return") == "true"
    assert root.findtext(f"{ns}placementGroup/{ns}groupArn") == \
        "arn:aws:ec2:eu-west-1:123456789012:placement-group/raw"
    # EC2's DescribePlacementGroups does not page: MaxResults/NextToken are unknown to it.
    for extra in ({"MaxResults": "5"}, {"NextToken": "x"}):
        status, root = raw_post(base, dict(extra, Action="DescribePlacementGroups"))
        assert status == 400 and root.tag == "Response", ET.tostring(root)
        assert root.findtext("Errors/Error/Code") == "UnknownParameter"
        assert root.findtext("RequestID")
    status, root = raw_post(base, {"Action": "DescribePlacementGroups", "GroupName.1": "x"})
    assert status == 400 and root.findtext("Errors/Error/Code") == "InvalidPlacementGroup.Unknown"

    served = stats(base)
    assert served["CreatePlacementGroup"] == 7 and served["DeletePlacementGroup"] == 1, served

    # moto's reset forgets the placement groups as well.
    with urllib.request.urlopen(urllib.request.Request(f"{base}/moto-api/reset",
                                                       method="POST")) as r:
        assert r.status == 200
    assert pg_names(east1) == [] and pg_names(east2) == []
    return {"placement groups made in us-east-1 / us-east-2 / eu-west-1": "5 / 1 / 1"}


if __name__ == "__main__":
    main()
