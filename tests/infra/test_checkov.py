"""checkov (the security scanner ``make lint`` runs on the template) finds nothing but what
``infra/suppressions.py`` accepts, each with a reason, and every accepted finding still fires
without its skip: a suppression whose check no longer fires is stale, an error.

checkov lives in its own environment (``.venv/tools``, made by ``make install``): its exact pins
(boto3 1.35, networkx 2, packaging 23) conflict with the project's."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
sys.path.insert(0, str(INFRA))

import generate  # noqa: E402
import suppressions  # noqa: E402

CHECKOV = Path(sys.prefix) / "tools" / "bin" / "checkov"


def checkov(template: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """checkov's JSON report of ``template`` (offline: nothing fetched from Prisma Cloud)."""
    assert CHECKOV.exists(), f"{CHECKOV} missing: run make install"
    path = tmp_path / "template.yaml"
    path.write_text(yaml.safe_dump(json.loads(json.dumps(template)), sort_keys=False))
    done = subprocess.run(
        [str(CHECKOV), "-f", str(path), "--framework", "cloudformation", "--skip-download",
         "--output", "json", "--soft-fail"],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert report["summary"]["parsing_errors"] == 0, report["summary"]
    return report


def findings(report: dict[str, Any], kind: str) -> set[tuple[str, str]]:
    """(logical id, check id) of the report's ``failed_checks`` or ``skipped_checks``."""
    return {
        (check["resource"].rsplit(".", 1)[-1], check["check_id"])
        for check in report["results"].get(kind, [])
    }


def resources_of(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for name, resource in template["Resources"].items():
        found.update(resource[2] if name.startswith("Fn::ForEach::") else {name: resource})
    return found


def expected_skips(template: dict[str, Any]) -> dict[tuple[str, str], str]:
    """(logical id, check id) -> reason, as the table gives them to this template."""
    out = {}
    for name, resource in resources_of(template).items():
        for skip in suppressions.skips_of(name, resource)[0]:
            out[(name, skip["id"])] = skip["comment"]
    return out


@pytest.fixture(scope="module")
def bare():
    """The generated template without any suppression."""
    template = generate.template()
    for resource in resources_of(template).values():
        for tool in ("checkov", "cfn-lint"):
            resource.get("Metadata", {}).pop(tool, None)
    return template


def test_every_suppression_has_a_reason_and_a_valid_key(bare):
    types = {r["Type"] for r in resources_of(bare).values()}
    names = set(resources_of(bare))
    for table in (suppressions.SUPPRESSIONS, suppressions.CFN_LINT):
        for key, entries in table.items():
            assert key in (types if "::" in key else names), f"{key}: no such resource or type"
            assert entries, key
            for check, reason in entries:
                assert check.strip() and len(reason.strip()) >= 20, (key, check, reason)


def problems(fired: set[tuple[str, str]], expected: dict[tuple[str, str], str]) -> list[str]:
    """What is wrong between checkov's findings and the suppressions given to the template."""
    stale = sorted(set(expected) - fired)
    unexplained = sorted(fired - set(expected))
    return [f"stale (suppressed, no longer found): {s}" for s in stale] + [
        f"to fix or suppress: {u}" for u in unexplained
    ]


@pytest.fixture(scope="module")
def fired(bare, tmp_path_factory):
    """What checkov finds in the template without suppressions."""
    return findings(checkov(bare, tmp_path_factory.mktemp("bare")), "failed_checks")


def test_checkov_passes_and_no_suppression_is_stale(bare, fired, tmp_path):
    expected = expected_skips(bare)
    assert problems(fired, expected) == []

    suppressed = generate.template()
    suppressions.apply(suppressed["Resources"])
    report = checkov(suppressed, tmp_path)
    assert findings(report, "failed_checks") == set()
    assert findings(report, "skipped_checks") == set(expected)
    for check in report["results"]["skipped_checks"]:
        assert check["check_result"]["suppress_comment"].strip()


def test_the_stale_check_catches_a_suppression_that_no_longer_fires(bare, fired):
    expected = expected_skips(bare)
    # RawBucket is versioned: CKV_AWS_21 passes on it, so a skip of it there would be stale.
    assert ("RawBucket", "CKV_AWS_21") not in fired
    found = problems(fired, {**expected, ("RawBucket", "CKV_AWS_21"): "a reason"})
    assert found == ["stale (suppressed, no longer found): ('RawBucket', 'CKV_AWS_21')"]
    dropped = dict(expected)
    dropped.pop(("CleanedBucket", "CKV_AWS_21"))
    assert problems(fired, dropped) == ["to fix or suppress: ('CleanedBucket', 'CKV_AWS_21')"]


def test_a_type_wide_suppression_fires_on_each_resource_of_its_type(bare):
    """A type key must be true of the whole type, not a blanket over a resource that passes:
    every resource of the type gets the skip (the stale test then shows each one fires)."""
    by_type = defaultdict(set)
    for name, resource in resources_of(bare).items():
        by_type[resource["Type"]].add(name)
    expected = expected_skips(bare)
    for key, entries in suppressions.SUPPRESSIONS.items():
        if "::" in key:
            for check, _ in entries:
                assert {(n, check) for n in by_type[key]} <= set(expected)


def test_apply_is_idempotent_and_keeps_other_metadata():
    resources = {
        "Fn::ForEach::Things": ["X", ["a"], {"Queue${X}": {"Type": "AWS::SQS::Queue"}}],
        "RawBucket": {"Type": "AWS::S3::Bucket", "Metadata": {"Owner": "lake"}},
        "Other": {"Type": "AWS::SNS::Topic"},
    }
    suppressions.apply(resources)
    once = json.loads(json.dumps(resources))
    suppressions.apply(resources)
    assert resources == once
    assert resources["RawBucket"]["Metadata"]["Owner"] == "lake"
    assert [s["id"] for s in resources["RawBucket"]["Metadata"]["checkov"]["skip"]] == [
        "CKV_AWS_18"
    ]
    queue = resources["Fn::ForEach::Things"][2]["Queue${X}"]
    assert [s["id"] for s in queue["Metadata"]["checkov"]["skip"]] == ["CKV_AWS_27"]
    assert "Metadata" not in resources["Other"]
