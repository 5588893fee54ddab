"""Every finding of the template's scanners that is accepted rather than fixed, with its reason:
one table, written into the resources' ``Metadata`` by ``apply`` (``generate.template()`` calls
it), so the skips live next to what they skip and every scanner run reads them.

``SUPPRESSIONS`` maps a key to ``[(checkov check id, reason)]``. A key is a logical resource id
(``RawBucket``) or, when it holds ``::``, a resource type (``AWS::Lambda::Function``): the
reason then holds for every resource of that type, and ``tests/infra/test_checkov.py`` requires
the check to fire on each of them without its skip. A suppression whose check no longer fires
is an error there (stale), as is an empty reason.

``CFN_LINT`` is the same for cfn-lint rules (``Metadata: cfn-lint: config: ignore_checks``).
"""

from __future__ import annotations

from typing import Any

NOT_VERSIONED = (
    "derived data: curation rewrites it from the raw zone (versioned, RawBucket), so old "
    "versions would only double the storage of every rerun"
)

SUPPRESSIONS: dict[str, list[tuple[str, str]]] = {
    "AWS::S3::Bucket": [
        (
            "CKV_AWS_18",
            "no server access logs: S3 cannot deliver them to a bucket encrypted with a "
            "customer KMS key, and every bucket here must be (tests/infra); object-level "
            "access is audited by the account's CloudTrail data events",
        ),
    ],
    "CleanedBucket": [("CKV_AWS_21", NOT_VERSIONED)],
    "AggregatedBucket": [("CKV_AWS_21", NOT_VERSIONED)],
    "AthenaResultsBucket": [
        ("CKV_AWS_21", "query results are transient: they expire after 30 days anyway"),
    ],
    "AWS::SQS::Queue": [
        (
            "CKV_AWS_27",
            "encrypted (SqsManagedSseEnabled: true; the check only knows KmsMasterKeyId): SP-API's "
            "account cannot use this account's KMS key to send, so SQS-managed keys it is",
        ),
    ],
    "AWS::Lambda::Function": [
        (
            "CKV_AWS_116",
            "no asynchronous invocations, which are all a Lambda DLQ catches: Step Functions "
            "invokes synchronously (Retry/Catch), the SQS event source redrives to its own "
            "dead-letter queue, and CloudFormation waits for the custom resource's answer",
        ),
        (
            "CKV_AWS_117",
            "no VPC: the functions call SP-API on the internet and AWS APIs, and reach no "
            "private resource; a VPC would only add a NAT gateway in between",
        ),
        (
            "CKV_AWS_115",
            "concurrency is bounded by the state machines (SellerConcurrency, "
            "ReportConcurrency, one quota-limited job at a time) and the SQS batch size; "
            "reserving it would take from the account's pool (AWS keeps 100 unreserved, so "
            "accounts at the default limit could not deploy)",
        ),
    ],
}

# cfn-lint rules: none skipped in the template today. (tests/infra/test_template.py leaves out
# the Lambda runtime deprecation rules E2531/E2533/W2531 on its command line: they compare with
# today's date, so they cannot be shown to fire, and a stale-check here would depend on the day.)
CFN_LINT: dict[str, list[tuple[str, str]]] = {}


def _keys(name: str, resource: dict[str, Any]) -> list[str]:
    return [resource.get("Type", ""), name]


def skips_of(name: str, resource: dict[str, Any]) -> tuple[list[dict[str, str]], list[str]]:
    """The checkov skips and cfn-lint rules ``resource`` (logical id ``name``) gets."""
    checkov = [
        {"id": check, "comment": reason}
        for key in _keys(name, resource)
        for check, reason in SUPPRESSIONS.get(key, [])
    ]
    cfn_lint = [rule for key in _keys(name, resource) for rule, _ in CFN_LINT.get(key, [])]
    return checkov, cfn_lint


def apply(resources: dict[str, Any]) -> None:
    """Write the suppressions into ``resources`` (a template's ``Resources``, in place).
    Idempotent: the scanners' metadata is replaced, any other metadata kept. The resources of an
    ``Fn::ForEach::`` entry (``[identifier, collection, {id: resource}]``) are covered too."""
    for name, resource in resources.items():
        if name.startswith("Fn::ForEach::"):
            apply(resource[2])
            continue
        checkov, cfn_lint = skips_of(name, resource)
        metadata = dict(resource.get("Metadata") or {})
        metadata.pop("checkov", None)
        metadata.pop("cfn-lint", None)
        if checkov:
            metadata["checkov"] = {"skip": checkov}
        if cfn_lint:
            metadata["cfn-lint"] = {"config": {"ignore_checks": cfn_lint}}
        if metadata:
            resource["Metadata"] = metadata
        else:
            resource.pop("Metadata", None)
