"""Schemathesis hooks for scripts/fuzz-api (loaded through SCHEMATHESIS_HOOKS).

The OpenAPI document states some rules in words only, because JSON Schema cannot say them: a
GTIN's check digit, a flash sale that ends after it starts (within 7 days, not already over), a
per-buyer limit within the units, a per-day limit of at least the per-order one, shifts in
order and apart, one cutoff per level and region, each SKU on one line of a checkout (and of an
after-sales request, whose refund, return or exchange names at least one line, each line of an
exchange and only of an exchange naming `exchange_for`, and whose change of address names an address
that no other kind takes) and one delivery per shop,
a date that exists (no 30 February), a buyer's token living at most 90 days, tokens listed by
shop or by buyer but not both, a compass range that ends after it begins and holds at most 2 000
buckets (the series) or 366 days (the compass's breadth), a webhook endpoint's URL that parses with
a loopback host (the server sends to no other unless told to), the shop an operator registers a
webhook endpoint for, a staff member's login (unique across the platform) and shop role, a risk rule set's distinct codes and
rising scores, and a penalty's parameter that goes with its kind. The server answers a request that breaks one 422, as the
document says. The fuzzer's generator reads only the schema, so its *valid* cases (positive
mode) are brought within these rules here before they are sent; its invalid cases are left
alone. Each valid case also gets an Idempotency-Key of its own: a key reused for another
request is refused (422, as the IETF Idempotency-Key draft says), and the generator cannot know
which keys it sent before. A list's `cursor` is left out of valid cases: only a `next_cursor`
the server gave is one (anything else is 400 `invalid_cursor`), and the generator cannot know
those either; invalid cases keep theirs.
"""

import calendar
import datetime
import re
import uuid

import schemathesis


def _positive(case):
    meta = getattr(case, "meta", None)
    return meta is not None and meta.generation.mode.is_positive


def _gtin(raw):
    """`raw` with its last digit made the GS1 check digit."""
    if not isinstance(raw, str) or not re.fullmatch(r"[0-9]{8}|[0-9]{12,14}", raw):
        return raw
    body = [int(d) for d in raw[:-1]]
    total = sum(d * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return raw[:-1] + str((10 - total % 10) % 10)


def _date(raw):
    """`raw` (`YYYY-MM-DD…`) with its day moved into its month if the month is shorter."""
    if not isinstance(raw, str):
        return raw
    match = re.match(r"([0-9]{4})-([0-9]{2})-([0-9]{2})", raw)
    if not match:
        return raw
    year, month, day = (int(g) for g in match.groups())
    if not 1 <= month <= 12:
        return raw
    last = calendar.monthrange(max(year, 1), month)[1]
    if year == 0 and month == 2:
        last = 29  # 0000 is a leap year in the proleptic Gregorian calendar
    return raw if day <= last else f"{year:04d}-{month:02d}-{last:02d}" + raw[10:]


def _instant(seconds_from_now):
    at = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds_from_now)
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def _unique_by(items, key):
    seen, kept = set(), []
    for item in items:
        k = key(item)
        if k not in seen:
            seen.add(k)
            kept.append(item)
    return kept


def _flash_sale(body):
    body["starts_at"] = _instant(-60)
    body["ends_at"] = _instant(3600)
    limit, units = body.get("per_buyer_limit"), body.get("units")
    if isinstance(limit, (int, float)) and isinstance(units, (int, float)) and limit > units:
        body["per_buyer_limit"] = units


def _agreement(body):
    order, day = body.get("per_order_limit_fen"), body.get("per_day_limit_fen")
    if isinstance(order, (int, float)) and isinstance(day, (int, float)) and day < order:
        body["per_day_limit_fen"], body["per_order_limit_fen"] = order, day


def _fulfillment(body):
    body["shifts"] = [{"start": "08:00", "end": "20:00"}]
    if isinstance(body.get("cutoffs"), list):
        body["cutoffs"] = _unique_by(body["cutoffs"], lambda c: (c.get("level"), c.get("region")))


def _checkout(body):
    if isinstance(body.get("lines"), list):
        body["lines"] = _unique_by(body["lines"], lambda line: line.get("sku_id"))
    if isinstance(body.get("deliveries"), list):
        body["deliveries"] = _unique_by(body["deliveries"], lambda d: d.get("shop_id"))
        for delivery in body["deliveries"]:
            window = delivery.get("scheduled_window")
            if isinstance(window, dict):
                window["date"] = _date(window.get("date"))


def _after_sales(body):
    if isinstance(body.get("lines"), list):
        body["lines"] = _unique_by(body["lines"], lambda line: line.get("sku_id"))
    if body.get("kind") in ("refund_only", "return_and_refund", "exchange") and not body.get("lines"):
        body["lines"] = [{"sku_id": 1, "quantity": 1}]
    if body.get("kind") == "change_address":
        if not isinstance(body.get("address"), dict):
            body["address"] = {"adcode": "510104000000", "detail": "红星路三段1号"}
    else:
        body.pop("address", None)
    # An exchange names the SKU wanted on each line; the other kinds name none.
    for line in body.get("lines") or []:
        if not isinstance(line, dict):
            continue
        if body.get("kind") == "exchange":
            if not isinstance(line.get("exchange_for"), int):
                line["exchange_for"] = 2
        else:
            line.pop("exchange_for", None)


def _buyer_token(body):
    days = body.get("expires_in_days")
    if isinstance(days, (int, float)) and days > 90:
        body["expires_in_days"] = 90


def _product(body):
    if "gtin" in body:
        body["gtin"] = _gtin(body["gtin"])


def _webhook_target(body):
    if body.get("url") is not None:
        body["url"] = "http://127.0.0.1:9/fuzz"


def _webhook_endpoint(body):
    _webhook_target(body)
    if body.get("shop_id") is None:
        body["shop_id"] = 1


def _staff_member(body):
    # A login is the platform's (a taken one is 409), and a shop's member has a shop role:
    # the demo shop's, which every fuzzing role but the buyer may staff.
    body["login"] = f"fuzz-{uuid.uuid4().hex}"
    body["shop_id"] = 1
    if body.get("role") == "platform_admin":
        body["role"] = "operator"


def _staff_change(body):
    # A shop's member keeps a shop role.
    if body.get("role") == "platform_admin":
        body.pop("role")


def _risk_rules(body):
    """A rule set's codes are distinct and its scores rise (0 < review_at ≤ challenge_at ≤
    block_at): the schema states each number's range, not their order."""
    rule_set = body.get("rule_set")
    if not isinstance(rule_set, dict):
        return
    if isinstance(rule_set.get("rules"), list):
        rule_set["rules"] = _unique_by(rule_set["rules"], lambda r: r.get("code") if isinstance(r, dict) else None)
    scores = [rule_set.get(k) for k in ("review_at", "challenge_at", "block_at")]
    if all(isinstance(v, int) for v in scores):
        rule_set["review_at"], rule_set["challenge_at"], rule_set["block_at"] = sorted(scores)


# A penalty's own parameter, by kind (the others must be absent).
PENALTY_PARAMETERS = {
    "warning": None,
    "flash_units_cap": "units",
    "new_sales_suspended": "until",
    "deposit_deduction": "amount_fen",
}


def _penalty(body):
    """A penalty carries its kind's parameter only (a cap's units, a suspension's end in the
    future, a deduction's amount of at least 1 fen): the schema lists all three as optional."""
    own = PENALTY_PARAMETERS.get(body.get("kind"), "")
    for field in ("units", "until", "amount_fen"):
        if field != own:
            body.pop(field, None)
    if own == "until":
        body["until"] = _instant(86400)
    if own == "amount_fen" and isinstance(body.get("amount_fen"), int):
        body["amount_fen"] = max(body["amount_fen"], 1)
    if own is not None and own != "" and own not in body:
        body[own] = _instant(86400) if own == "until" else 1


BODIES = {
    ("POST", "/v1/risk/rules"): _risk_rules,
    ("POST", "/v1/penalties"): _penalty,
    ("POST", "/v1/flash-sales"): _flash_sale,
    ("POST", "/v1/one-tap-agreements"): _agreement,
    ("PUT", "/v1/warehouses/{warehouse_id}/fulfillment"): _fulfillment,
    ("POST", "/v1/checkouts"): _checkout,
    ("POST", "/v1/after-sales"): _after_sales,
    ("POST", "/v1/buyers/{buyer_id}/tokens"): _buyer_token,
    ("POST", "/v1/products"): _product,
    ("PATCH", "/v1/products/{product_id}"): _product,
    ("POST", "/v1/webhook-endpoints"): _webhook_endpoint,
    ("PATCH", "/v1/webhook-endpoints/{endpoint_id}"): _webhook_target,
    ("POST", "/v1/staff"): _staff_member,
    ("PATCH", "/v1/staff/{staff_id}"): _staff_change,
}


def _integral(value):
    """66.0 for an integer field is a JSON Schema integer the generator sometimes writes as a
    float; the server's strict reader takes only integer literals, so valid cases send 66."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral(v) for v in value]
    return value


# Operations whose `from` and `to` are instants of a compass range.
COMPASS_RANGES = {
    "/v1/compass/series",
    "/v1/compass/regions",
    "/v1/compass/skus",
    "/v1/compass/fulfillment",
    "/v1/compass/after-sales",
}


@schemathesis.hook
def map_case(context, case):
    if not _positive(case):
        return case
    if isinstance(case.body, (dict, list)):
        case.body = _integral(case.body)
    for name in list(case.headers or {}):
        if name.lower() == "idempotency-key":
            case.headers[name] = f"fuzz-{uuid.uuid4().hex}"
    # A key read back by path: the generator sends a `%` in a path parameter unescaped, so
    # the server reads `%FF` as an escape (a byte that is no character) where the case meant
    # three characters; keep such valid cases free of `%`.
    path = case.path_parameters or {}
    key = path.get("key")
    if key is not None and ("%" in str(key) or not re.fullmatch(r"[!-~]{1,255}", str(key))):
        path["key"] = f"fuzz-{uuid.uuid4().hex}"
    fix = BODIES.get((case.method.upper(), case.operation.path))
    if fix is not None and isinstance(case.body, dict):
        fix(case.body)
    if isinstance(case.query, dict):
        case.query.pop("cursor", None)
        if "shop_id" in case.query and case.operation.path == "/v1/tokens":
            case.query.pop("buyer_id", None)
        if "gtin" in case.query:
            case.query["gtin"] = _gtin(case.query["gtin"])
        for name in ("date", "created_from", "created_to"):
            if name in case.query:
                case.query[name] = _date(case.query[name])
        if case.operation.path == "/v1/compass/diagnosis":
            for name in ("from", "to"):
                if name in case.query:
                    case.query[name] = _date(case.query[name])
        if case.operation.path in COMPASS_RANGES:
            # `to` after `from`, and at most 2 000 buckets (the series) or 366 days (the
            # breadth): the last day fits any granularity.
            case.query["from"], case.query["to"] = _instant(-86400), _instant(0)
    return case
