//! Every `code` a problem+json answer can carry, with its one status and its meaning: the
//! table of errors. `GET /errors` serves it, the README's "Errors" section shows it (a test
//! keeps the two equal), and [`ApiError::new`](super::problem::ApiError::new) checks in debug
//! builds that each refusal it makes is in it with that status.
//!
//! The rule for the client errors, applied by the extractors and `validate`:
//! - **400** — the request cannot be decoded: not HTTP, a header out of its syntax, a path id
//!   that is not an integer from 1 to 2⁶³−1, a query string that is not UTF-8 or whose
//!   parameter is unknown, repeated or of the wrong type, a body that is not JSON, or JSON of
//!   the wrong shape (a value of the wrong JSON type, a number with a fraction or beyond 64 bits
//!   where an integer goes, a missing or unknown field).
//! - **422** — decoded, but a value breaks a rule the OpenAPI document states: a length, a
//!   range, a pattern, an enumeration, an either-of, or a rule between fields that the
//!   document states in words (the end of a flash sale after its start).
//! - **404 / 409** — a request the document calls valid that the current state refuses: a
//!   reference to nothing (or to another tenant's object) is 404, wherever it is (path, body or
//!   query); a state that forbids it is 409. So a request valid by the document never gets 400
//!   or 422 — but for one exception, after the IETF Idempotency-Key draft: a key reused for a
//!   different request is 422 `idempotency_key_reused`.

use serde::Serialize;
use utoipa::ToSchema;

/// One error code: its status and what it means.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct ErrorCode {
    pub code: &'static str,
    pub status: u16,
    pub meaning: &'static str,
}

const fn code(code: &'static str, status: u16, meaning: &'static str) -> ErrorCode {
    ErrorCode { code, status, meaning }
}

/// Every code, by status (one line each: the table reads as one).
#[rustfmt::skip]
pub const ERRORS: &[ErrorCode] = &[
    code("malformed_request", 400, "the request line or a header is not valid HTTP/1.1 (e.g. a control character in a header value)"),
    code("malformed_json", 400, "the body is not JSON (syntax, encoding, trailing data, or empty where a body is required)"),
    code("wrong_type", 400, "a body value (or the body itself) has the wrong JSON type: e.g. a string, a fraction or a number beyond 64 bits where an integer goes; `field` names it"),
    code("missing_field", 400, "a required body field or query parameter is absent; `field` names it"),
    code("unknown_field", 400, "the body has a field this operation does not take; `field` names it"),
    code("duplicate_field", 400, "a body field is given twice; `field` names it"),
    code("invalid_query", 400, "the query string does not decode: not UTF-8 once percent-decoded, or a parameter that is unknown, given twice, or not an integer where one goes; `field` names it"),
    code("invalid_id", 400, "a path id is not an integer from 1 to 9223372036854775807; `field` names the path parameter"),
    code("invalid_idempotency_key", 400, "Idempotency-Key is not 1 to 255 visible ASCII characters"),
    code("invalid_cursor", 400, "`cursor` is not a `next_cursor` this list gave (pass it as it was given); `field` is `cursor`"),
    code("unreadable_body", 400, "the body could not be read from the connection"),
    code("unauthorized", 401, "no API token, or one that is malformed, unknown or revoked"),
    code("sign_in_failed", 401, "console sign-in: the login or the password is wrong, or the account is disabled (answered alike)"),
    code("missing_signature", 401, "webhooks: the signature header is absent"),
    code("malformed_signature", 401, "webhooks: the signature header is not `t=<unix seconds>,v1=<hex>`"),
    code("bad_signature", 401, "webhooks: the signature does not match the body under the shared secret"),
    code("stale_signature", 401, "webhooks: the signature is older (or newer) than 5 minutes: a replay"),
    code("declined", 402, "the payment was declined (reason not given); try another credential"),
    code("insufficient_funds", 402, "the payment was declined: insufficient funds"),
    code("suspected_fraud", 402, "the payment was declined as suspected fraud"),
    code("expired_credential", 402, "the payment was declined: the credential has expired"),
    code("request_expired", 402, "the payment was declined: it came after the intent's pay-by time"),
    code("not_processed", 402, "the provider did not process the payment; try again"),
    code("forbidden", 403, "the token's role may not use this operation"),
    code("insufficient_scope", 403, "the token is read-only and the operation writes"),
    code("csrf_token_invalid", 403, "a console session's mutation without its session's `X-CSRF-Token`, or from another `Origin`"),
    code("forbidden_for_role", 403, "the console session's role lacks the operation's permission (named in `detail`)"),
    code("risk_blocked", 403, "risk control refused the request (scored as a scalper or fraud); nothing is held"),
    code("not_found", 404, "no such resource or endpoint, or another tenant's (answered alike)"),
    code("unknown_shop", 404, "the shop does not exist, or (a checkout's delivery choice) sells none of the checkout's lines"),
    code("unknown_adcode", 404, "no administrative division has this code"),
    code("unknown_product", 404, "the product does not exist, or is another shop's"),
    code("unknown_sku", 404, "a SKU named by the request does not exist, or is another shop's; `field` names where"),
    code("unknown_warehouse", 404, "a warehouse named by the request does not exist, or is another shop's; `field` names where"),
    code("unknown_flash_sale", 404, "the flash sale does not exist"),
    code("unknown_refund", 404, "the refund does not exist"),
    code("method_not_allowed", 405, "the endpoint does not take this method"),
    code("request_timeout", 408, "the body did not arrive within the body read timeout; send it again, all at once"),
    code("shop_exists", 409, "the shop exists already"),
    code("sku_unavailable", 409, "the SKU (or its product) is archived and cannot be ordered"),
    code("insufficient_stock", 409, "not enough units are available"),
    code("invalid_transition", 409, "the order is no longer in a state that allows this (e.g. cancelling a paid order)"),
    code("checkout_cancelled", 409, "an earlier attempt of this checkout was cancelled; check out again with a new Idempotency-Key"),
    code("delivery_option_unavailable", 409, "the chosen delivery option cannot be kept for this cart now; ask for the options again"),
    code("delivery_window_unavailable", 409, "the booked window does not suit the chosen option now (not schedulable, before the earliest arrival or more than 7 days after it)"),
    code("not_started", 409, "the flash sale has not started yet"),
    code("ended", 409, "the flash sale has ended (a tap, or ending or topping up a sale that ended)"),
    code("limit_reached", 409, "the buyer holds the flash sale's per-buyer limit (`per_buyer_limit`, `remaining_allowed`)"),
    code("sold_out", 409, "the flash sale has no units left (a tap, or ending a sale whose units are all in orders)"),
    code("units_max_reached", 409, "a top-up would allot the flash sale more than 100 000 000 units in all"),
    code("nothing_to_pay", 409, "no order of the checkout awaits payment (paid, cancelled or expired)"),
    code("amount_not_payable", 409, "the orders awaiting payment add up to an amount the payment provider does not charge: nothing (free orders), or more than 1 000 000 000 000 fen"),
    code("payment_intent_state", 409, "the payment intent's state does not allow this (e.g. captured, expired)"),
    code("payment_in_progress", 409, "another attempt to pay this intent is in progress; retry after `Retry-After`"),
    code("conflicting_capture", 409, "the intent was captured by another charge"),
    code("capture_amount_mismatch", 409, "the provider captured another amount than the intent's"),
    code("order_not_in_payment", 409, "the order is not part of this payment"),
    code("order_not_paid", 409, "the order has no captured payment to refund"),
    code("refund_exceeds_captured", 409, "the refund would exceed what is left of the order's payment"),
    code("no_one_tap_agreement", 409, "the buyer has no active one-tap agreement"),
    code("one_tap_revoked", 409, "the buyer's one-tap agreement was revoked"),
    code("one_tap_per_order_limit", 409, "the amount is over the one-tap agreement's per-order limit"),
    code("one_tap_per_day_limit", 409, "the amount is over what the one-tap agreement allows today"),
    code("order_not_dispatched", 409, "the order is not paid and awaiting shipment"),
    code("no_parcel_at_warehouse", 409, "the order sends no parcel from that warehouse"),
    code("shipment_exists", 409, "that parcel has a shipment already"),
    code("export_too_large", 409, "more orders match than one CSV export holds (100 000): narrow the filter, e.g. by `created_from`/`created_to`"),
    code("alert_resolved", 409, "the package-center alert is resolved (by the rules or a person): it cannot be acknowledged, assigned, noted or resolved again"),
    code("alert_already_acknowledged", 409, "the package-center alert is acknowledged already"),
    code("alert_notes_full", 409, "the package-center alert has 50 notes, the most it keeps"),
    code("already_reviewed", 409, "the risk decision was reviewed already; its first review stands"),
    code("conversation_busy", 409, "the assistant is answering another message of the same conversation: send this one again once it has"),
    code("conversation_not_handed_over", 409, "the assistant still has the conversation: a person answers only once it is handed over"),
    code("challenge_closed", 409, "the risk challenge is closed (passed, failed after 3 wrong answers, or expired): the next challenged request opens a new one"),
    code("waybill_in_use", 409, "the waybill is on another shipment"),
    code("too_many_skus", 409, "the product has 100 SKUs already"),
    code("shortage_exceeds_stock", 409, "more units are reported missing than the warehouse holds and has not handed to a carrier"),
    code("order_changed", 409, "after-sales: the order changed while the request was read; retry"),
    code("after_sales_step_not_allowed", 409, "after-sales: the request's stage does not open this step to this party (e.g. approving a refunded request)"),
    code("cancellation_requested", 409, "the buyer asked to cancel the order: the merchant answers the request before shipping"),
    code("line_not_in_order", 409, "after-sales: a requested SKU is not a line of the order; `field` is `lines`"),
    code("quantity_not_requestable", 409, "after-sales: more units than the order line still has free for a request; `field` is `lines`"),
    code("request_already_open", 409, "after-sales: another open request holds these units"),
    code("amount_above_refundable", 409, "after-sales: the amount asked for is above what the order can still refund"),
    code("replacement_out_of_stock", 409, "after-sales: an exchange's replacement SKU has fewer units available than the line asks for; `field` is `lines`"),
    code("refused_by_rules", 409, "after-sales: the shop's rules refuse the request; `rules` lists each rule that fired, in Chinese and English"),
    code("same_address", 409, "after-sales: a change of address names the address the order already has"),
    code("address_not_served", 409, "after-sales: no warehouse of the shop (once packed: no service of the parcel's carrier) delivers to the new address; nothing changed"),
    code("order_already_delivered", 409, "after-sales: the order was delivered, so its address can no longer change"),
    code("webhook_endpoint_disabled", 409, "webhooks: the endpoint is disabled (by its owner, or by the platform after 3 days of failures); enable it first"),
    code("penalty_flash_units_cap", 409, "a penalty in force caps the shop's flash sales at fewer units than a schedule or a top-up asks; `field` is `units`"),
    code("penalty_sales_suspended", 409, "a penalty in force suspends the shop's new sales until the time `detail` names"),
    code("penalty_not_appealable", 409, "penalties: only an in-force penalty is appealed, and only once"),
    code("penalty_not_decidable", 409, "penalties: upholding needs an appeal; a decided, revoked or expired penalty is not decided again"),
    code("deposit_insufficient", 409, "deposit: the deduction is larger than the shop's deposit balance; nothing was issued"),
    code("deposit_overflow", 409, "deposit: the balance would pass what an amount holds"),
    code("wire_mismatch", 409, "cluster members: a member of another build (another wire shape), or counting shards differently, sent a shard's part of a request; nothing was decided, and it is retried at a member of its own build"),
    code("login_taken", 409, "console staff: another staff member has this login; `field` is `login`"),
    code("payload_too_large", 413, "the body is larger than 256 KiB"),
    code("uri_too_long", 414, "the request target is too long"),
    code("unsupported_media_type", 415, "the body is not sent as `Content-Type: application/json`"),
    code("invalid_field", 422, "a value breaks a rule the OpenAPI document states (length, range, pattern, enumeration, either-of, or a rule between fields); `field` names it"),
    code("invalid_quantity", 422, "a quantity is not 1 to 10 000"),
    code("invalid_price", 422, "a price is not 0 to 10 000 000 000 fen"),
    code("invalid_amount", 422, "an amount is not within its bounds"),
    code("invalid_gtin", 422, "not a GTIN-8, -12, -13 or -14 with a valid check digit"),
    code("invalid_adcode", 422, "an administrative division code is not 12 digits"),
    code("duplicate_sku", 422, "a SKU is on two lines of one request"),
    code("too_many_lines", 422, "an order would have more than 100 lines"),
    code("too_many_taps", 422, "an edge gateway's batch would carry more than 1 000 taps"),
    code("invalid_stock", 422, "a stock level is not 0 to 1 000 000 000"),
    code("invalid_flash_sale", 422, "the flash sale's schedule breaks a rule (ends after it starts, within 7 days, not already over; units, per-buyer limit and payment timeout in range)"),
    code("invalid_fulfillment_settings", 422, "a warehouse's settings break a rule (shifts in order and apart, capacities in range, one cutoff per level and region, carriers once)"),
    code("invalid_rule_set", 422, "a risk rule set breaks a rule (at most 32 rules with distinct codes of a-z, 0-9 and _; thresholds 0 to 10⁹; points 0 to 1 000; 0 < review_at ≤ challenge_at ≤ block_at; strict_percent 1 to 100); `field` names where"),
    code("challenge_failed", 422, "the answer to the risk challenge is wrong; `attempts_left` says how many more it takes (after the last, it is closed)"),
    code("invalid_sla_rules", 422, "an SLA rule is not 60 s to 30 days, or the warning share not 1 to 99 %"),
    code("invalid_after_sales_policy", 422, "an after-sales policy outside the law's window (7 days at least) or the platform's limits; `field` names the value"),
    code("invalid_kind", 422, "after-sales: `kind` is not a kind of request this server takes"),
    code("replacement_not_exchangeable", 422, "after-sales: an exchange line's `exchange_for` is not another SKU on sale of the same product as the line; `field` is `lines`"),
    code("replacement_price_differs", 422, "after-sales: an exchange line's `exchange_for` costs another price than was paid for the line (an exchange moves no money); `field` is `lines`"),
    code("invalid_reason", 422, "after-sales: `reason` is not a reason code"),
    code("token_lifetime_too_long", 422, "`expires_in_days` is above the most the token's role may have; `field` names it"),
    code("no_address", 422, "no address was given and the buyer has no default address"),
    code("idempotency_key_reused", 422, "the Idempotency-Key was used before for a different request"),
    code("webhook_target_not_allowed", 422, "webhooks: the endpoint's URL is https (this build sends plain http only) or its host is not loopback and the server does not allow other hosts (`--webhooks-allow-any-host`); `field` is `url`"),
    code("tracking_refused", 422, "webhooks: a carrier's tracking event breaks a rule (never answered today: refused events are acknowledged as `refused`)"),
    code("malformed_notification", 422, "webhooks: the body verifies but is not a notification the platform can read"),
    code("risk_challenge", 428, "risk control asks the buyer to step up: answer the `challenge` the problem carries (`POST /v1/risk/challenges/{id}/answer`), then ask again; nothing is held"),
    code("sign_in_throttled", 429, "console sign-in: 5 failures for this login within 15 minutes; wait `Retry-After` seconds"),
    code("overloaded", 429, "the shard's queue is full; retry after `Retry-After` seconds with the same Idempotency-Key"),
    code("headers_too_large", 431, "the request's headers are too large"),
    code("internal", 500, "a bug: the server reached a state it should not; reported in its log"),
    code("provider_refused", 502, "the payment provider refused the request; nothing was charged"),
    code("unavailable", 503, "storage, a shard or a provider is unavailable, the server is still loading its idempotency index after a start, or (several processes on one database) this process does not hold the shard's lease or no process holds it during a move; retry after `Retry-After` with the same Idempotency-Key, here or at another process"),
    code("server_busy", 503, "the server is at its cap on connections or requests in flight; retry after `Retry-After` seconds"),
];

/// The status of a code, if it is one.
pub fn status_of(code: &str) -> Option<u16> {
    ERRORS.iter().find(|e| e.code == code).map(|e| e.status)
}

/// The table as the README shows it (Markdown).
pub fn markdown_table() -> String {
    let mut table = String::from("| code | status | meaning |\n| --- | --- | --- |\n");
    for e in ERRORS {
        table.push_str(&format!("| `{}` | {} | {} |\n", e.code, e.status, e.meaning));
    }
    table
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::{ERRORS, markdown_table, status_of};
    use crate::http::problem::ApiError;
    use miaodan_domain::SkuId;
    use miaodan_domain::after_sales::address::AddressRefusal;
    use miaodan_domain::after_sales::book::OpenRefusal;
    use miaodan_domain::after_sales::commands::AfterSalesRefusal;
    use miaodan_domain::after_sales::policy::PolicyProblem;
    use miaodan_domain::after_sales::request::{Actor, Stage, StepNotAllowed};
    use miaodan_domain::after_sales::rules::{Decision, RuleMode, Verdict};
    use miaodan_domain::flash_sale::{ScheduleProblem, TapRefusal};
    use miaodan_domain::fulfillment::network::SettingsProblem;
    use miaodan_domain::ids::AfterSalesId;
    use miaodan_domain::logistics::shipment::EventRefusal;
    use miaodan_domain::logistics::sla::SlaRulesProblem;
    use miaodan_domain::money::Fen;
    use miaodan_domain::orders::{InvalidTransition, OrderState};
    use miaodan_domain::payments::{DeclineCode, IntentStatus, OneTapLimit, PaymentRefusal};
    use miaodan_domain::shard::Rejection;
    use std::collections::BTreeSet;

    #[test]
    fn every_code_is_in_the_table_once() {
        let codes: BTreeSet<&str> = ERRORS.iter().map(|e| e.code).collect();
        assert_eq!(codes.len(), ERRORS.len(), "a code is in the table twice");
        for e in ERRORS {
            assert!((400..600).contains(&e.status), "{e:?}");
            assert!(!e.meaning.is_empty(), "{e:?}");
        }
    }

    /// Every refusal of the core, each variant once: the answer `http/` gives it has a code of
    /// the table with that code's status (`ApiError::new` asserts it too, in every test).
    #[test]
    fn every_refusal_of_the_core_is_answered_with_a_code_of_the_table() {
        let sku = SkuId::new(1).unwrap();
        let mut rejections = vec![
            Rejection::UnknownShop,
            Rejection::ShopExists,
            Rejection::UnknownProduct,
            Rejection::UnknownSku { sku },
            Rejection::UnknownWarehouse,
            Rejection::SkuUnavailable { sku },
            Rejection::InsufficientStock {
                sku,
                requested: 2,
                available: 1,
            },
            Rejection::OrderNotOpen,
            Rejection::InvalidTransition(InvalidTransition {
                from: OrderState::Paid,
                to: OrderState::Cancelled,
            }),
            Rejection::TooManySkus,
            Rejection::TooManyLines,
            Rejection::InvalidStock,
            Rejection::UnknownFlashSale,
            Rejection::PaymentIntentNotLoaded,
            Rejection::OrderNotDispatched,
            Rejection::NoParcelAtWarehouse,
            Rejection::ShipmentExists,
            Rejection::WaybillInUse,
            Rejection::UnknownShipment,
            Rejection::DeliveryOptionUnavailable,
            Rejection::DeliveryWindowUnavailable,
            Rejection::IdInUse,
        ];
        let taps = [
            TapRefusal::NotStarted,
            TapRefusal::Ended,
            TapRefusal::SoldOut,
            TapRefusal::LimitReached {
                per_buyer_limit: 1,
                remaining_allowed: 0,
            },
        ];
        rejections.extend(taps.map(Rejection::Tap));
        let schedule = [
            ScheduleProblem::EndsBeforeStart,
            ScheduleProblem::LastsTooLong,
            ScheduleProblem::AlreadyEnded,
            ScheduleProblem::UnitsOutOfRange,
            ScheduleProblem::LimitOutOfRange,
            ScheduleProblem::PaymentTimeoutOutOfRange,
        ];
        rejections.extend(schedule.map(Rejection::InvalidFlashSale));
        let payments = [
            PaymentRefusal::IntentState(IntentStatus::Captured),
            PaymentRefusal::AttemptInFlight,
            PaymentRefusal::ConflictingCapture,
            PaymentRefusal::NotInIntent,
            PaymentRefusal::UnknownRefund,
        ];
        rejections.extend(payments.map(Rejection::Payment));
        let settings = [
            SettingsProblem::Shifts,
            SettingsProblem::OrdersPerHour,
            SettingsProblem::OrdersPerDay,
            SettingsProblem::TooManyCutoffs,
            SettingsProblem::CutoffMinute,
            SettingsProblem::DuplicateCutoff,
            SettingsProblem::DuplicateCarrier,
        ];
        rejections.extend(settings.map(Rejection::InvalidFulfillmentSettings));
        let sla = [
            SlaRulesProblem::NotPickedUpWithin,
            SlaRulesProblem::NotDepartedWithin,
            SlaRulesProblem::StalledAfter,
            SlaRulesProblem::WarnAtPercent,
        ];
        rejections.extend(sla.map(Rejection::InvalidSlaRules));
        let tracking = [
            EventRefusal::CreatedIsNotAnEvent,
            EventRefusal::InTheFuture,
            EventRefusal::BeforeShipment,
            EventRefusal::BadEventId,
            EventRefusal::TooManyEvents,
        ];
        rejections.extend(tracking.map(Rejection::TrackingRefused));
        let request = AfterSalesId::new(1).unwrap();
        let decision = Decision {
            rule_set_version: 1,
            mode: RuleMode::Enforced,
            verdict: Verdict::Refuse,
            acted: Verdict::Refuse,
            fired: Vec::new(),
        };
        let opening = [
            OpenRefusal::OrderNotPaid {
                state: OrderState::PendingPayment,
            },
            OpenRefusal::LineNotInOrder { sku },
            OpenRefusal::QuantityNotRequestable { sku, requestable: 1 },
            OpenRefusal::UnitsHeldByOpenRequest { request },
            OpenRefusal::AmountAboveRefundable {
                refundable: Fen::from_const(100),
            },
            OpenRefusal::RefusedByRules(decision),
        ];
        let after_sales = [
            AfterSalesRefusal::UnknownOrder,
            AfterSalesRefusal::UnknownRequest,
            AfterSalesRefusal::OrderChanged,
            AfterSalesRefusal::StepNotAllowed(StepNotAllowed {
                stage: Stage::Closed,
                actor: Actor::Merchant,
            }),
            AfterSalesRefusal::CancellationRequested { request },
            AfterSalesRefusal::InvalidPolicy(PolicyProblem::NoReasonDays),
            AfterSalesRefusal::Address(AddressRefusal::Delivered),
            AfterSalesRefusal::Address(AddressRefusal::Missing),
            AfterSalesRefusal::Address(AddressRefusal::Unchanged),
            AfterSalesRefusal::Address(AddressRefusal::NotServed),
        ];
        rejections.extend(opening.map(|refusal| Rejection::AfterSales(AfterSalesRefusal::Open(refusal))));
        rejections.extend(after_sales.map(Rejection::AfterSales));
        for rejection in &rejections {
            let answer = ApiError::from(rejection);
            assert_eq!(status_of(answer.code), Some(answer.status.as_u16()), "{rejection:?}");
        }
    }

    /// Codes made at run time from the core's and the adapters' own codes.
    #[test]
    fn the_codes_of_declines_one_tap_limits_and_webhook_refusals_are_in_the_table() {
        let declines = [
            DeclineCode::InsufficientFunds,
            DeclineCode::SuspectedFraud,
            DeclineCode::ExpiredCredential,
            DeclineCode::RequestExpired,
            DeclineCode::NotProcessed,
            DeclineCode::Other,
        ];
        for decline in declines {
            assert_eq!(status_of(decline.as_str()), Some(402), "{decline:?}");
        }
        for limit in [OneTapLimit::Revoked, OneTapLimit::PerOrder, OneTapLimit::PerDay] {
            assert_eq!(status_of(limit.code()), Some(409), "{limit:?}");
        }
        use crate::flows::payments::provider::NotificationError;
        let notifications = [
            NotificationError::MissingSignature,
            NotificationError::MalformedSignature,
            NotificationError::BadSignature,
            NotificationError::StaleSignature,
        ];
        for error in notifications {
            assert_eq!(status_of(error.code()), Some(401), "{error:?}");
        }
        assert_eq!(status_of(NotificationError::MalformedBody.code()), Some(422));
    }

    /// The status a `StatusCode::NAME` stands for, for the names `http/` uses.
    fn status_named(name: &str) -> u16 {
        let names = [
            ("BAD_REQUEST", 400),
            ("UNAUTHORIZED", 401),
            ("PAYMENT_REQUIRED", 402),
            ("FORBIDDEN", 403),
            ("NOT_FOUND", 404),
            ("METHOD_NOT_ALLOWED", 405),
            ("REQUEST_TIMEOUT", 408),
            ("CONFLICT", 409),
            ("PAYLOAD_TOO_LARGE", 413),
            ("URI_TOO_LONG", 414),
            ("UNSUPPORTED_MEDIA_TYPE", 415),
            ("UNPROCESSABLE_ENTITY", 422),
            ("TOO_MANY_REQUESTS", 429),
            ("REQUEST_HEADER_FIELDS_TOO_LARGE", 431),
            ("INTERNAL_SERVER_ERROR", 500),
            ("BAD_GATEWAY", 502),
            ("SERVICE_UNAVAILABLE", 503),
        ];
        let found = names.iter().find(|(n, _)| *n == name);
        found
            .unwrap_or_else(|| panic!("add StatusCode::{name} to status_named"))
            .1
    }

    /// The string literal at the start of `text` (after whitespace), if there is one.
    fn literal(text: &str) -> Option<&str> {
        let rest = text.trim_start().strip_prefix('"')?;
        rest.split('"').next()
    }

    /// Every code written as a literal in the server's source, with the status it is written
    /// with: `ApiError::new(StatusCode::X, "code", …)` and `ApiError::invalid("code", …)` (422).
    fn literal_codes() -> Vec<(String, String, u16)> {
        let mut found = Vec::new();
        let mut folders = vec![std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/src"))];
        while let Some(folder) = folders.pop() {
            for entry in std::fs::read_dir(&folder).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    folders.push(path);
                    continue;
                }
                // This file names the patterns it looks for.
                if path.ends_with("http/errors.rs") {
                    continue;
                }
                let Ok(source) = std::fs::read_to_string(&path) else {
                    continue;
                };
                let file = path.display().to_string();
                for (at, _) in source.match_indices("ApiError::invalid(") {
                    if let Some(code) = literal(&source[at + "ApiError::invalid(".len()..]) {
                        found.push((file.clone(), code.to_string(), 422));
                    }
                }
                for (at, _) in source.match_indices("ApiError::new(") {
                    let rest = source[at + "ApiError::new(".len()..].trim_start();
                    let Some(rest) = rest.strip_prefix("StatusCode::") else {
                        continue;
                    };
                    let name: String = rest
                        .chars()
                        .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                        .collect();
                    let after = rest[name.len()..].trim_start().trim_start_matches(',');
                    if let Some(code) = literal(after) {
                        found.push((file.clone(), code.to_string(), status_named(&name)));
                    }
                }
            }
        }
        found
    }

    #[test]
    fn every_code_written_in_the_source_is_in_the_table_with_its_status() {
        let codes = literal_codes();
        assert!(codes.len() > 50, "the scan found too few codes: {codes:?}");
        for (file, code, status) in codes {
            assert_eq!(status_of(&code), Some(status), "{file}: `{code}` with status {status}");
        }
    }

    #[test]
    fn the_readme_shows_the_table() {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
        let table = markdown_table();
        assert!(
            readme.contains(&table),
            "README.md's table of errors is not the one in http/errors.rs; it should read:\n{table}"
        );
    }
}
