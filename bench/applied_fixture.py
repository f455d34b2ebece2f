#!/usr/bin/env python3
"""Writes tests/fixtures/machineset-create-efa-m5-applied.json: the review of
tests/fixtures/machineset-create-efa-m5.json as the API server sends it when the
MachineSet comes from `oc apply` (client-side apply, which GitOps tools also use):

- compact JSON, as the API server's encoder writes it (no indentation);
- the object carries the `kubectl.kubernetes.io/last-applied-configuration` annotation
  (the applied manifest as one JSON string) that kubectl adds;
- and the `metadata.managedFields` entry the API server's field manager adds for
  kubectl before admission (fieldsV1 stops at `providerSpec.value`, a RawExtension).

The load bench and the tests read the file; run this again only if the source fixture
changes: python3 bench/applied_fixture.py
"""
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "tests" / "fixtures" / "machineset-create-efa-m5.json"
OUT = ROOT / "tests" / "fixtures" / "machineset-create-efa-m5-applied.json"


def fields(value: dict, raw: set[str]) -> dict:
    """fieldsV1 of a map: every key as `f:key`, maps recursed into (with `.`), except the
    keys in `raw`, whose contents the field manager does not track."""
    out = {}
    for key, member in value.items():
        if isinstance(member, dict) and member and key not in raw:
            out[f"f:{key}"] = {".": {}, **fields(member, raw)}
        else:
            out[f"f:{key}"] = {}
    return out


def main() -> None:
    review = json.loads(SOURCE.read_text())
    obj = review["request"]["object"]
    manifest = {k: v for k, v in obj.items()}
    manifest["metadata"] = {k: v for k, v in obj["metadata"].items() if k != "creationTimestamp"}
    applied = json.dumps(manifest, separators=(",", ":"))
    metadata = obj["metadata"]
    metadata["annotations"] = {"kubectl.kubernetes.io/last-applied-configuration": applied + "\n"}
    tracked = {
        "metadata": {"annotations": metadata["annotations"], "labels": metadata["labels"]},
        "spec": obj["spec"],
    }
    metadata["managedFields"] = [{
        "manager": "kubectl-client-side-apply",
        "operation": "Update",
        "apiVersion": "machine.openshift.io/v1beta1",
        "time": "2026-11-25T10:42:31Z",
        "fieldsType": "FieldsV1",
        # The top-level maps carry no `.` of their own.
        "fieldsV1": {key: {k: v for k, v in value.items() if k != "."}
                     for key, value in fields(tracked, raw={"value"}).items()},
    }]
    OUT.write_text(json.dumps(review, separators=(",", ":")))
    print(f"wrote {OUT.relative_to(ROOT)} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
