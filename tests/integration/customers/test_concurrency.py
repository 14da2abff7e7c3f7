from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient
from tests.builders import ok
from tests.integration.customers.helpers import event, lookup, shop, values


def test_requests_racing_to_create_the_same_person_make_one_profile(admin: TestClient) -> None:
    shop(admin)
    ingests = [("/api/v1/events", [event("page_viewed", {"email": "ana@correo.es", "phone": "612345678",
                                                         "anonymous_id": f"dev-{i}"}, n=i)]) for i in range(12)]
    creates = [("/api/v1/customers", {"identities": {"email": "ana@correo.es", "loyalty": f"L-{i}"}})
               for i in range(4)]

    with ThreadPoolExecutor(max_workers=16) as pool:
        responses = list(pool.map(lambda req: admin.post(req[0], json=req[1]), ingests + creates))

    assert [r.status_code for r in responses[:12]] == [200] * 12
    assert sorted(r.status_code for r in responses[12:]) in ([200] * 4, [200, 200, 200, 201])
    ids = {r.json()["customer_ids"][0] for r in responses[:12]} | {r.json()["id"] for r in responses[12:]}
    assert len(ids) == 1
    profile = ok(lookup(admin, email="ana@correo.es"))
    assert profile["id"] in ids
    assert len(values(profile, "anonymous_id")) == 12
    assert len(values(profile, "loyalty")) == 4
    assert profile["stats"]["events_count"] == 12
