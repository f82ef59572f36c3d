"""schemathesis fuzzes every operation in /openapi.json as every role: whatever it sends,
with whatever token, no 5xx.

Its pytest plugin does not run under pytest 9 yet, so the cases are drawn from each
operation's Hypothesis strategy directly. The owner, who may call everything, gets the most
examples; the other roles mostly meet their 403s, which must hold for any input too.
"""

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from hub.domain.devices import ROLES
from tests.support.hubproc import RunningHub

SKIP = {"/api/v1/events"}  # a stream that never ends; covered by the till tests
EXAMPLES = {"owner": 20}  # per operation; other roles, mostly refused, get 4


@pytest.fixture(scope="module")
def fuzzed_hub(tmp_path_factory):
    hub = RunningHub(tmp_path_factory.mktemp("fuzz") / "home").start()
    yield hub
    hub.stop()


@pytest.mark.parametrize("role", ROLES)
def test_no_request_makes_the_hub_fail(fuzzed_hub, role):
    schema = schemathesis.openapi.from_url(f"{fuzzed_hub.url}/openapi.json",
                                           verify=fuzzed_hub.ca_file)
    token = fuzzed_hub.owner_token
    if role != "owner":
        with fuzzed_hub.client() as owner:
            token = owner.post("/devices", json={"name": f"fuzz {role}", "role": role}
                               ).json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    session = requests.Session()  # one TLS connection for all of a role's cases, not one each
    operations = [result.ok() for result in schema.get_all_operations()]
    fuzzed = []
    for operation in operations:
        if operation.path in SKIP:
            continue

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES.get(role, 4), deadline=None,
                  suppress_health_check=list(HealthCheck), database=None)
        def fuzz(case):
            case.call_and_validate(base_url=fuzzed_hub.url, headers=headers, session=session,
                                   verify=fuzzed_hub.ca_file,
                                   checks=[not_a_server_error])

        fuzz()
        fuzzed.append(f"{operation.method.upper()} {operation.path}")
    assert len(fuzzed) >= 30, fuzzed
