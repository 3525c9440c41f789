"""Whatever a client sends, the answer is a problem it can read, never a 500."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.common.errors import SpaError
from services.common.http import STATUS_OF_CODE
from tests.helpers import bearer

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=3),
    max_leaves=8)
texts = st.text(max_size=30) | st.dates().map(str) | st.datetimes().map(lambda d: d.isoformat())
slot_params = st.fixed_dictionaries({}, optional={
    name: texts | st.integers().map(str)
    for name in ("treatment", "duration", "from", "to", "studio", "therapist")})
entry_fields = st.dictionaries(
    st.sampled_from(["name", "studio", "timezone", "opening_hours", "equipment", "skills",
                     "shifts", "durations_min", "prices", "requires", "closures", "id",
                     "start", "end", "days", "hours", "slot_step_min"]),
    json_values | texts, max_size=6)
ROUTES = ["/v1/studios/camden", "/v1/rooms/camden-1", "/v1/therapists/maya",
          "/v1/treatments/ashiatsu"]
CHECKS = {"deadline": None, "suppress_health_check": [HealthCheck.function_scoped_fixture]}


@settings(max_examples=80, **CHECKS)
@given(params=slot_params)
def test_any_slot_query_is_answered_without_a_server_error(app, api_keys, params):
    response = app.test_client().get("/v1/slots", query_string=params,
                                     headers=bearer(api_keys["partner"]))
    assert response.status_code in (200, 404, 422)


@settings(max_examples=80, **CHECKS)
@given(route=st.sampled_from(ROUTES), body=entry_fields | json_values)
def test_any_admin_body_is_answered_without_a_server_error(app, api_keys, route, body):
    client, admin = app.test_client(), bearer(api_keys["admin"])
    response = client.put(route, json=body, headers=admin)
    assert response.status_code in (200, 404, 409, 422)
    assert client.get("/v1/studios", headers=admin).status_code == 200  # still loads


@settings(max_examples=40, **CHECKS)
@given(path=st.sampled_from(["/v1/therapists/maya/time-off", "/v1/studios/camden/closures"]),
       body=entry_fields | json_values)
def test_any_absence_body_is_answered_without_a_server_error(app, api_keys, path, body):
    response = app.test_client().post(path, json=body, headers=bearer(api_keys["admin"]))
    assert response.status_code in (201, 409, 422)


hold_params = st.fixed_dictionaries({}, optional={
    name: json_values | texts
    for name in ("studio", "treatment", "duration", "start", "therapist", "hold_id", "ttl_s")})


@settings(max_examples=80, **CHECKS)
@given(method=st.sampled_from(["describe", "hold", "confirm", "release"]),
       params=hold_params | st.dictionaries(st.sampled_from(["hold_id", "booking_id"]),
                                            json_values | texts))
def test_any_rpc_params_are_refused_as_data_not_a_crash(rpc, method, params):
    try:
        rpc[method](params)
    except SpaError as error:  # a refusal a partner could be told, never a crash
        assert STATUS_OF_CODE[error.code] in (404, 409, 422)
