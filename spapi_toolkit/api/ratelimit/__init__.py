"""SP-API rate limits: token buckets that callers wait on instead of being throttled.

Amazon meters every operation with a token bucket per application, selling partner and region.
This package mirrors those buckets on the client side so that requests leave only when the server
would accept them. Small pieces, one job each (in the spirit of botocore's ``retries/``):

* ``limits``  - the official rate and burst of every operation (``data/rate_limits.csv``);
* ``bucket``  - the arithmetic of one bucket, shared between threads or processes;
* ``limiter`` - one bucket per (application, selling partner, region, operation), learning from
  rate headers and 429s; per-operation counters;
* ``retry``   - what is retried, the backoff (full jitter), the budget of one call and the
  retry budget all threads of a client share;
* ``quotas``  - the per-report-type createReport quotas on top of the operation limits.
"""

from spapi_toolkit.api.ratelimit.bucket import (
    BucketState,
    FileTokenBucket,
    RateLimitTimeout,
    TokenBucket,
)
from spapi_toolkit.api.ratelimit.limiter import (
    BucketKey,
    OperationStats,
    RateLimiter,
    parse_rate_header,
)
from spapi_toolkit.api.ratelimit.limits import (
    DEFAULT_LIMIT,
    OfficialLimit,
    official_limits,
    render_limits_table,
)
from spapi_toolkit.api.ratelimit.quotas import REPORT_QUOTAS, ReportQuota, next_report_slot
from spapi_toolkit.api.ratelimit.retry import RETRYABLE_STATUSES, RetryPolicy, RetryQuota

__all__ = [
    "DEFAULT_LIMIT",
    "REPORT_QUOTAS",
    "RETRYABLE_STATUSES",
    "BucketKey",
    "BucketState",
    "FileTokenBucket",
    "OfficialLimit",
    "OperationStats",
    "RateLimitTimeout",
    "RateLimiter",
    "ReportQuota",
    "RetryPolicy",
    "RetryQuota",
    "TokenBucket",
    "next_report_slot",
    "official_limits",
    "parse_rate_header",
    "render_limits_table",
]
