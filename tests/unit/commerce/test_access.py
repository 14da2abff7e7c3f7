"""commerce.access: who sells where and who sees which order, without a database."""

import pytest

from omnihub.commerce import access
from omnihub.core.errors import Forbidden, NotFound
from omnihub.core.security import Principal, Role

WEB = {"code": "web", "kind": "web", "locations": ["wh", "mad"]}
STORE = {"code": "store", "kind": "store", "locations": ["mad", "bcn"]}
MARKET = {"code": "market", "kind": "marketplace", "locations": ["wh"]}
ORDER = {"id": "ord_1", "channel": "web", "lines": [{"location": "mad"}], "fulfilment": {"type": "ship"}}


def who(role: Role, **scope: str) -> Principal:
    return Principal(key_id="key_1", role=role, **scope)


def test_an_associate_sells_in_store_channels_that_sell_from_its_location_only() -> None:
    mad, vlc = who(Role.ASSOCIATE, location="mad"), who(Role.ASSOCIATE, location="vlc")
    assert access.acts_for(mad, STORE)
    assert not access.acts_for(mad, WEB) and not access.acts_for(mad, MARKET) and not access.acts_for(vlc, STORE)
    with pytest.raises(Forbidden) as refused:
        access.check_sells_in(mad, MARKET)
    assert (refused.value.code, refused.value.field) == ("channel_not_allowed", "channel")


def test_a_channel_key_sells_in_its_own_channel_and_checks_out_there_by_default() -> None:
    web = who(Role.CHANNEL, channel="web")
    assert access.acts_for(web, WEB) and not access.acts_for(web, STORE)
    assert access.checkout_channel(web, None, "app") == "web"
    assert access.checkout_channel(web, "market", "app") == "market"  # then refused by check_sells_in
    assert access.checkout_channel(who(Role.ASSOCIATE, location="mad"), None, "app") == "app"
    with pytest.raises(Forbidden):
        access.check_sells_in(web, MARKET)


def test_orders_and_returns_out_of_scope_look_unknown() -> None:
    assert access.can_see_order(who(Role.CHANNEL, channel="web"), ORDER)
    assert access.can_see_order(who(Role.ASSOCIATE, location="mad"), ORDER)
    with pytest.raises(NotFound):
        access.check_order(who(Role.CHANNEL, channel="market"), ORDER)
    with pytest.raises(NotFound):
        access.check_order(who(Role.ASSOCIATE, location="bcn"), ORDER)
    returned = {"id": "ret_1", "location": "bcn"}
    access.check_return(who(Role.ASSOCIATE, location="bcn"), returned, ORDER)  # it came back at bcn
    with pytest.raises(NotFound) as hidden:
        access.check_return(who(Role.CHANNEL, channel="market"), returned, ORDER)
    assert hidden.value.code == "return_not_found"


def test_the_pickup_code_is_shown_to_admins_and_that_stores_associates_only() -> None:
    order = {**ORDER, "pickup": {"location": "mad", "code": "123456"}}
    assert access.show(who(Role.ADMIN), order)["pickup"]["code"] == "123456"
    assert access.show(who(Role.ASSOCIATE, location="mad"), order)["pickup"]["code"] == "123456"
    for other in (who(Role.ASSOCIATE, location="bcn"), who(Role.CHANNEL, channel="web"), who(Role.AGENT)):
        assert access.show(other, order)["pickup"]["code"] is None
