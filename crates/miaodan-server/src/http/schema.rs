//! The rules the extractors and `validate` enforce, written as JSON Schema for the OpenAPI
//! document (`#[schema(schema_with = …)]` on the wire types), so that what the document calls
//! valid is what the server takes. Patterns are written in the subset ECMA-262, Python's `re`
//! and Rust's `regex` read alike (`\uXXXX` escapes, no `\s`, no lookaround); the tests below
//! hold each pattern against the parser it describes.
//!
//! A rule the schema cannot state (a GTIN's check digit, a flash sale that ends after it
//! starts) is stated in the field's description; such a request is answered 422 all the same.

use miaodan_domain::catalog::INVISIBLE;
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaFormat, SchemaType, Type};
use utoipa::openapi::{KnownFormat, RefOr};

/// What Rust's `str::trim` removes (Unicode `White_Space`), as ranges.
const WHITESPACE: [(char, char); 10] = [
    ('\t', '\r'),
    (' ', ' '),
    ('\u{85}', '\u{85}'),
    ('\u{A0}', '\u{A0}'),
    ('\u{1680}', '\u{1680}'),
    ('\u{2000}', '\u{200A}'),
    ('\u{2028}', '\u{2029}'),
    ('\u{202F}', '\u{202F}'),
    ('\u{205F}', '\u{205F}'),
    ('\u{3000}', '\u{3000}'),
];

/// What `char::is_control` is (Unicode `Cc`).
const CONTROL: [(char, char); 2] = [('\0', '\u{1F}'), ('\u{7F}', '\u{9F}')];

/// The inside of a character class holding `ranges`, each character as `\uXXXX` (all are in
/// the Basic Multilingual Plane).
fn class(ranges: &[(char, char)]) -> String {
    let escape = |c: char| format!("\\u{:04X}", u32::from(c));
    ranges
        .iter()
        .map(|&(first, last)| {
            if first == last {
                escape(first)
            } else {
                format!("{}-{}", escape(first), escape(last))
            }
        })
        .collect()
}

/// User text as `validate::text` takes it: whitespace around, no control character inside
/// what trimming leaves, and at least one character that shows.
pub fn text_pattern() -> String {
    let (ws, ctrl, invisible) = (class(&WHITESPACE), class(&CONTROL), class(&INVISIBLE));
    format!("^[{ws}]*[^{ctrl}]*[^{ws}{ctrl}{invisible}][^{ctrl}]*[{ws}]*$")
}

/// Text without control characters anywhere (credentials, a search).
pub fn no_control_pattern() -> String {
    format!("^[^{}]*$", class(&CONTROL))
}

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

fn nullable(schema_type: Type) -> SchemaType {
    SchemaType::from_iter([schema_type, Type::Null])
}

fn done(builder: ObjectBuilder) -> RefOr<Schema> {
    RefOr::T(Schema::Object(builder.build()))
}

fn text_of(max: usize, optional: bool) -> ObjectBuilder {
    let builder = if optional {
        ObjectBuilder::new().schema_type(nullable(Type::String))
    } else {
        string()
    };
    builder
        .min_length(Some(1))
        .max_length(Some(max))
        .pattern(Some(text_pattern()))
        .description(Some(format!(
            "1 to {max} characters as sent; trimmed; no control characters; not blank (whitespace and invisible characters only)"
        )))
}

/// User text of 1 to `MAX` characters.
pub fn text<const MAX: usize>() -> RefOr<Schema> {
    done(text_of(MAX, false))
}

/// User text of 1 to `MAX` characters, or `null` (absent).
pub fn optional_text<const MAX: usize>() -> RefOr<Schema> {
    done(text_of(MAX, true))
}

/// A 12-digit administrative division code; one no division has is answered 404.
pub fn adcode() -> RefOr<Schema> {
    done(string().pattern(Some("^[0-9]{12}$")).description(Some(
        "A 12-digit administrative division code, e.g. `310101000000` (上海市黄浦区); a code no division has is answered 404 `unknown_adcode`.",
    )))
}

fn gtin_of(schema_type: SchemaType) -> RefOr<Schema> {
    done(
        ObjectBuilder::new()
            .schema_type(schema_type)
            .pattern(Some("^([0-9]{8}|[0-9]{12,14})$"))
            .description(Some(
                "GTIN-8/12/13/14 with a valid check digit (GS1); the same GTIN across shops is the same product.",
            )),
    )
}

pub fn gtin() -> RefOr<Schema> {
    gtin_of(SchemaType::Type(Type::String))
}

pub fn optional_gtin() -> RefOr<Schema> {
    gtin_of(nullable(Type::String))
}

/// One of `words`, or `null` when `optional`.
fn words(words: &[&str], optional: bool) -> RefOr<Schema> {
    let mut values: Vec<serde_json::Value> = words.iter().map(|w| (*w).into()).collect();
    let schema_type = if optional {
        values.push(serde_json::Value::Null);
        nullable(Type::String)
    } else {
        SchemaType::Type(Type::String)
    };
    done(ObjectBuilder::new().schema_type(schema_type).enum_values(Some(values)))
}

pub fn optional_listing_status() -> RefOr<Schema> {
    words(&["active", "archived"], true)
}

pub const LEVELS: [&str; 4] = ["one_hour", "same_day", "next_day", "standard"];
pub const CARRIERS: [&str; 3] = ["sf", "jd", "zto"];

pub fn level() -> RefOr<Schema> {
    words(&LEVELS, false)
}

pub fn carrier() -> RefOr<Schema> {
    words(&CARRIERS, false)
}

pub fn optional_carrier() -> RefOr<Schema> {
    words(&CARRIERS, true)
}

pub fn cutoff_region() -> RefOr<Schema> {
    words(&["any", "same_province", "same_city"], false)
}

/// `HH:MM`, 00:00 to 24:00.
pub fn local_time() -> RefOr<Schema> {
    done(
        string()
            .pattern(Some("^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$"))
            .description(Some("Shanghai wall-clock time `HH:MM`, 00:00 to 24:00.")),
    )
}

/// `YYYY-MM-DD`, a calendar date.
pub const DATE_PATTERN: &str = "^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$";

pub fn date() -> RefOr<Schema> {
    done(
        string()
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Date)))
            .pattern(Some(DATE_PATTERN))
            .description(Some("A calendar date, `YYYY-MM-DD` (a day that exists)")),
    )
}

/// A calendar date, or `null` (absent).
pub fn optional_date() -> RefOr<Schema> {
    done(
        ObjectBuilder::new()
            .schema_type(nullable(Type::String))
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Date)))
            .pattern(Some(DATE_PATTERN))
            .description(Some("A calendar date, `YYYY-MM-DD` (a day that exists), or null")),
    )
}

/// A report's language: `zh` (Chinese) or `en` (English).
pub fn report_language() -> RefOr<Schema> {
    words(&["zh", "en"], false)
}

/// An RFC 3339 instant as `clock::parse_rfc3339` takes it.
pub const INSTANT_PATTERN: &str = "^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$";

fn instant_of(schema_type: SchemaType) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(schema_type)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
        .pattern(Some(INSTANT_PATTERN))
}

pub fn instant() -> RefOr<Schema> {
    done(instant_of(SchemaType::Type(Type::String)).description(Some(
        "An RFC 3339 instant, e.g. `2026-11-22T20:00:00+08:00` (a day that exists)",
    )))
}

fn integer_of(schema_type: SchemaType, min: i64, max: i64) -> RefOr<Schema> {
    done(
        ObjectBuilder::new()
            .schema_type(schema_type)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
            .minimum(Some(min))
            .maximum(Some(max)),
    )
}

/// An integer from `MIN` to `MAX`.
pub fn integer<const MIN: i64, const MAX: i64>() -> RefOr<Schema> {
    integer_of(SchemaType::Type(Type::Integer), MIN, MAX)
}

/// An integer from `MIN` to `MAX`, or `null` (absent).
pub fn optional_integer<const MIN: i64, const MAX: i64>() -> RefOr<Schema> {
    integer_of(nullable(Type::Integer), MIN, MAX)
}

/// A positive id (1 to 2⁶³−1).
pub fn id() -> RefOr<Schema> {
    integer::<1, { i64::MAX }>()
}

/// A positive id, or `null` (absent).
pub fn optional_id() -> RefOr<Schema> {
    optional_integer::<1, { i64::MAX }>()
}

/// A credential: 1 to 200 characters, no control characters.
fn credential_of(schema_type: SchemaType) -> RefOr<Schema> {
    done(
        ObjectBuilder::new()
            .schema_type(schema_type)
            .min_length(Some(1))
            .max_length(Some(200))
            .pattern(Some(no_control_pattern())),
    )
}

pub fn credential() -> RefOr<Schema> {
    credential_of(SchemaType::Type(Type::String))
}

pub fn optional_credential() -> RefOr<Schema> {
    credential_of(nullable(Type::String))
}

/// Exactly one way to pay a payment intent: a `credential` (and `one_tap` absent or false), or
/// `one_tap: true` (and no credential). Joined to the body's object schema by `finish`.
pub fn confirm_either_of() -> RefOr<Schema> {
    use utoipa::openapi::schema::OneOfBuilder;
    let boolean = |value: bool| {
        ObjectBuilder::new()
            .schema_type(Type::Boolean)
            .enum_values(Some([value]))
    };
    let with_credential = ObjectBuilder::new()
        .required("credential")
        .property("credential", string())
        .property("one_tap", boolean(false));
    let with_one_tap = ObjectBuilder::new()
        .required("one_tap")
        .property("one_tap", boolean(true))
        .property("credential", ObjectBuilder::new().schema_type(Type::Null));
    let either = OneOfBuilder::new().item(with_credential).item(with_one_tap);
    RefOr::T(Schema::OneOf(either.build()))
}

/// A path parameter: every one is an id, 1 to 2⁶³−1 (`extract::PathIds`).
pub fn path_id() -> RefOr<Schema> {
    id()
}

/// An `Idempotency-Key`: 1 to 255 visible ASCII characters (`idempotency::is_valid_key`), in
/// its header or, percent-encoded, in the path that reads its stored answer.
pub fn idempotency_key() -> RefOr<Schema> {
    done(
        string()
            .min_length(Some(1))
            .max_length(Some(255))
            .pattern(Some("^[!-~]+$")),
    )
}

/// A carrier's waybill number: 6 to 40 letters, digits or `-`, or `null` (the carrier issues one).
pub fn optional_waybill() -> RefOr<Schema> {
    done(
        ObjectBuilder::new()
            .schema_type(nullable(Type::String))
            .pattern(Some(WAYBILL_PATTERN)),
    )
}

/// A carrier's waybill number (`logistics::shipment::valid_waybill`).
const WAYBILL_PATTERN: &str = "^[A-Za-z0-9-]{6,40}$";

pub fn waybill() -> RefOr<Schema> {
    done(string().pattern(Some(WAYBILL_PATTERN)))
}

/// The hours a booked two-hour window may start at.
pub fn window_start_hour() -> RefOr<Schema> {
    let hours = miaodan_domain::fulfillment::promise::SCHEDULED_WINDOW_START_HOURS;
    done(
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .enum_values(Some(hours.iter().map(|h| serde_json::Value::from(*h)))),
    )
}

/// Carriers that collect at a warehouse (each once), or `null` for all.
pub fn optional_carriers() -> RefOr<Schema> {
    use utoipa::openapi::schema::ArrayBuilder;
    let items = words(&CARRIERS, false);
    let array = ArrayBuilder::new()
        .schema_type(nullable(Type::Array))
        .items(items)
        .unique_items(true)
        .max_items(Some(CARRIERS.len()));
    RefOr::T(Schema::Array(array.build()))
}

/// 1 to 100 distinct positive order ids (a bulk shipment's orders).
pub fn order_ids_to_ship() -> RefOr<Schema> {
    use utoipa::openapi::schema::ArrayBuilder;
    let array = ArrayBuilder::new()
        .schema_type(SchemaType::Type(Type::Array))
        .description(Some("1 to 100 distinct ids of the shop's orders."))
        .items(id())
        .unique_items(true)
        .min_items(Some(1))
        .max_items(Some(100));
    RefOr::T(Schema::Array(array.build()))
}

pub const ORDER_STATES: [&str; 5] = ["pending_payment", "paid", "shipped", "delivered", "cancelled"];

pub fn optional_order_state() -> RefOr<Schema> {
    words(&ORDER_STATES, false)
}

pub fn optional_alert_state() -> RefOr<Schema> {
    words(&["open", "all"], false)
}

pub fn optional_alert_rule() -> RefOr<Schema> {
    words(
        &[
            "not_picked_up",
            "not_departed",
            "stalled",
            "promise_at_risk",
            "stock_shortage",
        ],
        false,
    )
}

pub fn optional_alert_level() -> RefOr<Schema> {
    words(&["warning", "timed_out"], false)
}

pub fn optional_alert_assignee() -> RefOr<Schema> {
    done(
        string()
            .pattern(Some("^(none|[1-9][0-9]{0,17})$"))
            .description(Some("`none` (nobody assigned) or a staff id (up to 18 digits).")),
    )
}

pub fn optional_acknowledged() -> RefOr<Schema> {
    words(&["true", "false"], false)
}

/// The kinds of after-sales request this server opens (`http/after_sales.rs::parse_open`).
pub const AFTER_SALES_KINDS: [&str; 5] = [
    "cancel",
    "refund_only",
    "return_and_refund",
    "exchange",
    "change_address",
];

pub fn after_sales_kind() -> RefOr<Schema> {
    words(&AFTER_SALES_KINDS, false)
}

pub fn after_sales_reason() -> RefOr<Schema> {
    let reasons: Vec<&str> = miaodan_domain::after_sales::Reason::ALL
        .iter()
        .map(|r| r.as_str())
        .collect();
    words(&reasons, false)
}

/// How finely a compass series buckets its figures.
pub fn compass_granularity() -> RefOr<Schema> {
    words(&["minute", "hour", "day"], false)
}

/// How finely the compass tells regions apart.
pub fn compass_region_level() -> RefOr<Schema> {
    words(&["province", "city"], false)
}

/// What the compass ranks top SKUs by.
pub fn compass_sku_ranking() -> RefOr<Schema> {
    words(&["gmv", "units", "refunds"], false)
}

/// A stream's `once`: `true` sends the current view and ends the stream.
pub fn stream_once() -> RefOr<Schema> {
    words(&["true", "false"], false)
}

/// An event family (`order`) or topic (`order.paid`).
pub fn event_topic() -> RefOr<Schema> {
    use miaodan_domain::events::{Family, Topic};
    let topics: Vec<String> = Family::ALL
        .iter()
        .map(|f| f.as_str().to_string())
        .chain(Topic::all().iter().map(Topic::to_string))
        .collect();
    let topics: Vec<&str> = topics.iter().map(String::as_str).collect();
    words(&topics, false)
}

/// The most characters of a webhook endpoint's URL.
pub const WEBHOOK_URL_CHARS_MAX: usize = 2_000;

fn webhook_url_of(schema_type: SchemaType) -> RefOr<Schema> {
    let pattern = format!("^https?://[^{0}\\u0020/?#][^{0}\\u0020]*$", class(&CONTROL));
    done(
        ObjectBuilder::new()
            .schema_type(schema_type)
            .min_length(Some(8))
            .max_length(Some(WEBHOOK_URL_CHARS_MAX))
            .pattern(Some(pattern))
            .description(Some(
                "An `http://` URL the events are POSTed to. Its host must be loopback (127.0.0.0/8, ::1, `localhost`) unless the server runs with `--webhooks-allow-any-host`; `https://` is refused by this build, which sends plain HTTP only (422 `webhook_target_not_allowed`).",
            )),
    )
}

pub fn webhook_url() -> RefOr<Schema> {
    webhook_url_of(SchemaType::Type(Type::String))
}

pub fn optional_webhook_url() -> RefOr<Schema> {
    webhook_url_of(nullable(Type::String))
}

fn webhook_topics_of(schema_type: SchemaType) -> RefOr<Schema> {
    use utoipa::openapi::schema::ArrayBuilder;
    let array = ArrayBuilder::new()
        .schema_type(schema_type)
        .items(event_topic())
        .unique_items(true)
        .min_items(Some(1))
        .max_items(Some(miaodan_domain::webhooks::SUBSCRIPTION_TOPICS_MAX))
        .description(Some(
            "Event topics (`order.paid`) and families (`shipment`: every topic of it), each once.",
        ));
    RefOr::T(Schema::Array(array.build()))
}

pub fn webhook_topics() -> RefOr<Schema> {
    webhook_topics_of(SchemaType::Type(Type::Array))
}

pub fn optional_webhook_topics() -> RefOr<Schema> {
    webhook_topics_of(nullable(Type::Array))
}

pub fn webhook_delivery_state() -> RefOr<Schema> {
    words(&["pending", "delivered", "failed"], false)
}

pub fn after_sales_stage() -> RefOr<Schema> {
    words(&miaodan_domain::after_sales::request::Stage::NAMES, false)
}

/// A shop's category (`ShopCategory::NAMES`).
pub fn shop_category() -> RefOr<Schema> {
    words(&miaodan_domain::catalog::ShopCategory::NAMES, false)
}

/// A shop's category, or `null` (absent: `other` on create, unchanged on update).
pub fn optional_shop_category() -> RefOr<Schema> {
    words(&miaodan_domain::catalog::ShopCategory::NAMES, true)
}

/// A product's after-sales goods class, or `null` for ordinary goods.
pub fn optional_goods_class() -> RefOr<Schema> {
    let goods: Vec<&str> = miaodan_domain::after_sales::policy::ExemptGoods::ALL
        .iter()
        .map(|g| g.as_str())
        .collect();
    words(&goods, true)
}

/// Goods a shop's no-reason window excludes: each of the four at most once.
pub fn exempt_goods() -> RefOr<Schema> {
    use utoipa::openapi::schema::ArrayBuilder;
    let goods: Vec<&str> = miaodan_domain::after_sales::policy::ExemptGoods::ALL
        .iter()
        .map(|g| g.as_str())
        .collect();
    let array = ArrayBuilder::new()
        .items(words(&goods, false))
        .max_items(Some(goods.len()))
        .unique_items(true);
    RefOr::T(Schema::Array(array.build()))
}

pub fn return_shipping() -> RefOr<Schema> {
    let payers: Vec<&str> = miaodan_domain::after_sales::policy::ReturnShipping::ALL
        .iter()
        .map(|r| r.as_str())
        .collect();
    words(&payers, false)
}

pub fn rule_mode() -> RefOr<Schema> {
    words(&["enforced", "shadow"], false)
}

/// What the merchant's inspection of a returned parcel found.
pub fn inspection() -> RefOr<Schema> {
    let found: Vec<&str> = miaodan_domain::after_sales::request::Inspection::ALL
        .iter()
        .map(|i| i.as_str())
        .collect();
    words(&found, false)
}

pub fn after_sales_decision() -> RefOr<Schema> {
    words(&["approve", "refuse"], false)
}

/// A search: at most 100 characters, none a control character.
pub fn search() -> RefOr<Schema> {
    done(string().max_length(Some(100)).pattern(Some(no_control_pattern())))
}

/// An order list's `q`: an order or buyer id, with or without a leading `#`.
pub fn order_search() -> RefOr<Schema> {
    done(string().pattern(Some("^#?[1-9][0-9]{0,17}$".to_string())))
}

/// A positive number as a cart's pairs write it: decimal, without leading zeros, at most 18
/// digits (`[1-9][0-9]{0,17}` in `ITEMS_PATTERN`).
pub fn number(raw: &str) -> Option<i64> {
    let digits = !raw.is_empty() && raw.len() <= 18 && raw.bytes().all(|b| b.is_ascii_digit());
    (digits && !raw.starts_with('0')).then(|| raw.parse().ok()).flatten()
}

/// What a list's cursor is (`page.rs`): lower-case hex of a short JSON text.
const CURSOR_PATTERN: &str = "^([0-9a-f]{2})+$";

/// A list's cursor, as the list's `next_cursor` gave it.
pub fn cursor() -> RefOr<Schema> {
    done(
        string()
            .max_length(Some(super::page::CURSOR_CHARS_MAX))
            .pattern(Some(CURSOR_PATTERN))
            .description(Some(
                "The `next_cursor` of the previous page, as it was given (opaque); absent for the first page.",
            )),
    )
}

/// A cart: 1 to 100 `sku_id:quantity` pairs, quantities 1 to 10 000.
pub const ITEMS_PATTERN: &str =
    "^[1-9][0-9]{0,17}:([1-9][0-9]{0,3}|10000)(,[1-9][0-9]{0,17}:([1-9][0-9]{0,3}|10000)){0,99}$";

pub fn items() -> RefOr<Schema> {
    done(string().pattern(Some(ITEMS_PATTERN)).description(Some(
        "The cart: 1 to 100 `sku_id:quantity` pairs separated by commas, quantities 1 to 10 000, e.g. `1001:2,1002:1`.",
    )))
}

pub fn adcode_query() -> RefOr<Schema> {
    adcode()
}

/// A staff member's role (`StaffRole`).
pub fn staff_role() -> RefOr<Schema> {
    let names: Vec<&str> = miaodan_domain::staff::StaffRole::ALL
        .iter()
        .map(|r| r.as_str())
        .collect();
    words(&names, false)
}

/// A staff member's role, or `null` (unchanged).
pub fn optional_staff_role() -> RefOr<Schema> {
    let names: Vec<&str> = miaodan_domain::staff::StaffRole::ALL
        .iter()
        .map(|r| r.as_str())
        .collect();
    words(&names, true)
}

/// A sign-in name: 3 to 64 visible ASCII characters.
pub fn login() -> RefOr<Schema> {
    done(
        string()
            .pattern(Some("^[!-~]{3,64}$"))
            .min_length(Some(3))
            .max_length(Some(64)),
    )
}

/// A password as chosen: 10 to 256 characters.
pub fn new_password() -> RefOr<Schema> {
    done(string().min_length(Some(10)).max_length(Some(256)))
}

/// A new password, or `null` (unchanged).
pub fn optional_new_password() -> RefOr<Schema> {
    done(
        ObjectBuilder::new()
            .schema_type(nullable(Type::String))
            .min_length(Some(10))
            .max_length(Some(256)),
    )
}

/// A password as presented at sign-in: anything up to 256 characters.
pub fn presented_password() -> RefOr<Schema> {
    done(string().max_length(Some(256)))
}

pub const PENALTY_KINDS: [&str; 4] = ["warning", "flash_units_cap", "new_sales_suspended", "deposit_deduction"];

pub fn penalty_kind() -> RefOr<Schema> {
    words(&PENALTY_KINDS, false)
}

pub fn penalty_decision() -> RefOr<Schema> {
    words(&["uphold", "revoke"], false)
}

pub fn optional_penalty_state() -> RefOr<Schema> {
    words(&["in_force", "appealed", "upheld", "revoked", "expired"], false)
}

/// An RFC 3339 instant, or `null` (absent).
pub fn optional_instant() -> RefOr<Schema> {
    done(instant_of(nullable(Type::String)).description(Some(
        "An RFC 3339 instant, e.g. `2026-11-22T20:00:00+08:00` (a day that exists), or null",
    )))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use miaodan_domain::catalog::Text;

    fn regex(pattern: &str) -> regex::Regex {
        regex::Regex::new(pattern).unwrap()
    }

    #[test]
    fn the_cursors_the_lists_make_are_what_their_pattern_says() {
        let pattern = regex(CURSOR_PATTERN);
        let keys = [
            super::super::page::cursor("orders", &(1_780_000_000_000_i64, i64::MAX)),
            super::super::page::cursor("alerts", &("sla:7:not_picked_up", 3)),
            super::super::page::cursor("products", &"商品"),
        ];
        for cursor in keys {
            assert!(pattern.is_match(&cursor), "{cursor}");
        }
        assert!(!pattern.is_match("ABC") && !pattern.is_match("a") && !pattern.is_match(""));
    }

    #[test]
    fn a_number_is_what_its_pattern_says() {
        const NUMBER: &str = "[1-9][0-9]{0,17}";
        assert!(ITEMS_PATTERN.starts_with(&format!("^{NUMBER}:")));
        let pattern = regex(&format!("^{NUMBER}$"));
        for raw in [
            "1",
            "42",
            "999999999999999999",
            "0",
            "01",
            "-1",
            "+1",
            "1e3",
            "",
            "1000000000000000000",
            " 1",
        ] {
            assert_eq!(pattern.is_match(raw), number(raw).is_some(), "{raw:?}");
        }
    }

    #[test]
    fn the_classes_are_what_rust_trims_and_calls_control() {
        let within = |ranges: &[(char, char)], c: char| ranges.iter().any(|&(a, b)| (a..=b).contains(&c));
        for c in (0..=0xFFFF).filter_map(char::from_u32) {
            assert_eq!(within(&WHITESPACE, c), c.is_whitespace(), "{c:?}");
            assert_eq!(within(&CONTROL, c), c.is_control(), "{c:?}");
        }
    }

    #[test]
    fn the_text_pattern_takes_exactly_what_text_parse_takes() {
        let pattern = regex(&text_pattern());
        let mut samples: Vec<String> = [
            "秒单",
            " 秒单 ",
            "\t秒单\n",
            "a b",
            "a\tb",
            "a\nb",
            "\u{200B}",
            "\u{200B}a",
            " \u{FEFF} ",
            "",
            " ",
            "\u{0}",
            "a\u{7F}",
            "\u{3000}x\u{3000}",
            "\u{85}x",
            "x\u{85}y",
            "👨\u{200D}👩",
            "\u{2028}",
        ]
        .map(String::from)
        .to_vec();
        // Every character of the BMP alone, and between two letters.
        for c in (0..=0xFFFF).filter_map(char::from_u32) {
            samples.push(c.to_string());
            samples.push(format!("a{c}b"));
            samples.push(format!("{c}a"));
        }
        for sample in samples {
            assert_eq!(
                pattern.is_match(&sample),
                Text::<200>::parse(&sample).is_ok(),
                "{sample:?}"
            );
        }
    }

    #[test]
    fn the_time_date_and_instant_patterns_take_what_the_parsers_take() {
        let time = regex("^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$");
        for h in 0..=25 {
            for m in [0, 1, 30, 59, 60] {
                let raw = format!("{h:02}:{m:02}");
                assert_eq!(
                    time.is_match(&raw),
                    crate::http::fulfillment::parse_local_time(&raw).is_some(),
                    "{raw}"
                );
            }
        }
        let date = regex(DATE_PATTERN);
        for good in ["2026-01-01", "2024-02-29", "0001-12-31"] {
            assert!(date.is_match(good), "{good}");
        }
        for bad in [
            "2026-13-01",
            "2026-1-1",
            "20260101",
            "+026-01-01",
            "2026-01-01T00:00:00Z",
        ] {
            assert!(!date.is_match(bad), "{bad}");
        }
        let instant = regex(INSTANT_PATTERN);
        for good in [
            "2026-11-22T20:00:00+08:00",
            "2026-11-22T12:00:00Z",
            "2026-11-22T12:00:00.123456789Z",
        ] {
            assert!(instant.is_match(good), "{good}");
            assert!(crate::clock::parse_rfc3339(good).is_some(), "{good}");
        }
        for bad in [
            "2026-11-22 12:00:00Z",
            "2026-11-22T12:00Z",
            "2026-11-22T12:00:00",
            "2026-11-22T24:00:00Z",
            "2026-11-22t12:00:00z",
            "2026-11-22T12:00:00Z[UTC]",
        ] {
            assert!(!instant.is_match(bad), "{bad}");
            assert!(crate::clock::parse_rfc3339(bad).is_none(), "{bad}");
        }
    }
}
