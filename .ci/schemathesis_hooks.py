"""Hooks for .ci/schemathesis (loaded through SCHEMATHESIS_HOOKS).

HTTP field values cannot hold control characters other than HTAB (RFC 9110
5.5). schemathesis generates header values (bearer tokens in the anonymous
run) with such characters; hyper's HTTP/1 parser refuses the whole message
with an empty 400 before any application code runs, so no service can answer
it as problem+json and no OpenAPI schema can exclude it. Those characters are
removed from generated header values; everything else in the request is sent
as generated.
"""

import re

import schemathesis

_CTL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


@schemathesis.hook
def before_call(context, case, kwargs):
    if case.headers:
        for name, value in list(case.headers.items()):
            if isinstance(value, str) and _CTL.search(value):
                case.headers[name] = _CTL.sub("", value)
