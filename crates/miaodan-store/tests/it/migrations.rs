//! Numbered migrations on SQLite and on PostgreSQL: a database left at any earlier version
//! (built by running the migration files up to that version, as that release did, and filled
//! with rows the way that release wrote them) is brought to the current version when the store
//! opens it, keeps every row, takes today's writes, and ends with exactly the schema a fresh
//! database gets. Migrations 1–3 give exactly the schema the release before numbered
//! migrations created (`tests/fixtures/schema-v3`, captured from it).
#![allow(clippy::unwrap_used)]

use crate::stored_json::{package_center, samples};

use crate::support::{Backend, Database};
use miaodan_domain::catalog::Text;
use miaodan_domain::flash_sale::FlashSaleId;
use miaodan_domain::fulfillment::FulfillmentSettings;
use miaodan_domain::geo::Adcode;
use miaodan_domain::ids::ShipmentId;
use miaodan_domain::inventory::{Allocation, StockLevel};
use miaodan_domain::logistics::{AlertLevel, StaffRef, Worker};
use miaodan_domain::orders::{Address, Order, OrderLine, OrderState};
use miaodan_domain::payments::{IntentStatus, PaymentIntentId};
use miaodan_domain::shard::{Effect, RequestRef, ShardHorizons};
use miaodan_domain::{BuyerId, CheckoutId, Fen, OrderId, ProductId, Quantity, ShopId, SkuId, Timestamp, WarehouseId};
use miaodan_store::records::{AlertFilter, AlertKinds, AlertWorkFilter, Assignee, Keyset};
use miaodan_store::records::{Role, TokenFilter, TokenRecord, TokenScope};
use miaodan_store::{PackageCenterEntry, Store};

both_backends!(
    every_earlier_version_migrates_to_the_current_one_and_keeps_its_rows,
    migrations_1_to_3_give_the_schema_the_release_before_them_created,
    a_database_of_a_later_version_is_refused,
);

// ---- the migration files, run as the release of each version ran them -----------------------

/// `(version, sql)` of every file in `migrations/`, in version order.
fn migration_files() -> Vec<(i64, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut files: Vec<(i64, String)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "sql"))
        .map(|path| {
            let name = path.file_name().unwrap().to_str().unwrap().to_string();
            let version = name.split('_').next().unwrap().parse().unwrap();
            (version, std::fs::read_to_string(&path).unwrap())
        })
        .collect();
    files.sort();
    files
}

pub(crate) fn current_version() -> i64 {
    migration_files().last().unwrap().0
}

/// The file's statements for `backend`, as the store runs them (comments out, spellings in).
fn statements(sql: &str, backend: Backend) -> Vec<String> {
    let (id, without_rowid, now_ms) = match backend {
        Backend::Sqlite => (
            "INTEGER",
            "WITHOUT ROWID",
            "(CAST(strftime('%s', 'now') AS INTEGER) * 1000)",
        ),
        Backend::Postgres => ("BIGINT", "", "(CAST(EXTRACT(EPOCH FROM now()) * 1000 AS BIGINT))"),
    };
    let code: Vec<&str> = sql
        .lines()
        .map(|line| line.split_once("--").map_or(line, |(code, _)| code))
        .collect();
    code.join("\n")
        .split(';')
        .map(str::trim)
        .filter_map(|s| match s.strip_prefix("{POSTGRES}") {
            Some(_) if backend == Backend::Sqlite => None,
            Some(postgres) => Some(postgres),
            None => Some(s),
        })
        .map(|s| {
            s.replace("{ID}", id)
                .replace("{WITHOUT_ROWID}", without_rowid)
                .replace("{NOW_MS}", now_ms)
        })
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// A database at `version`, as the release of that version left it.
async fn database_at(backend: Backend, version: i64) -> Database {
    let db = Database::fresh(backend).await;
    let mut sql = String::from("CREATE TABLE schema_version (version BIGINT NOT NULL);\n");
    for (_, file) in migration_files().iter().filter(|(v, _)| *v <= version) {
        for statement in statements(file, backend) {
            sql += &statement;
            sql += ";\n";
        }
    }
    sql += &format!("INSERT INTO schema_version (version) VALUES ({version});");
    db.execute(&sql).await;
    db
}

/// The schema, normalised so that two databases with the same tables, columns, constraints and
/// indexes compare equal (SQLite: the stored DDL without whitespace; PostgreSQL: the catalog).
async fn schema_of(db: &Database) -> Vec<String> {
    let rows = match db.backend {
        Backend::Sqlite => {
            db.texts("SELECT type, name, tbl_name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY type, name")
                .await
        }
        Backend::Postgres => {
            let mut rows = db
                .texts(
                    "SELECT 'column', c.table_name::text, c.ordinal_position::text, c.column_name::text,
                     c.data_type::text, c.is_nullable::text, COALESCE(c.column_default, '')
                     FROM information_schema.columns c
                     WHERE c.table_schema = 'public' ORDER BY c.table_name, c.ordinal_position",
                )
                .await;
            rows.extend(
                db.texts(
                    "SELECT 'index', indexname::text, indexdef FROM pg_indexes WHERE schemaname = 'public'
                     ORDER BY indexname",
                )
                .await,
            );
            rows.extend(
                db.texts(
                    "SELECT 'constraint', conrelid::regclass::text, contype::text, pg_get_constraintdef(oid)
                     FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 2, 3, 4",
                )
                .await,
            );
            rows
        }
    };
    rows.into_iter()
        .map(|row| {
            let fields: Vec<String> = row.into_iter().map(Option::unwrap_or_default).collect();
            let mut line = fields.join("\t");
            if db.backend == Backend::Sqlite {
                let sql: String = fields[3].chars().filter(|c| !c.is_whitespace()).collect();
                line = format!("{}\t{}\t{}\t{sql}", fields[0], fields[1], fields[2]);
            }
            line
        })
        .collect()
}

fn fixture_schema(backend: Backend) -> Vec<String> {
    let name = match backend {
        Backend::Sqlite => "sqlite.txt",
        Backend::Postgres => "postgres.txt",
    };
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/schema-v3")
        .join(name);
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

// ---- rows, in the layout of the version that wrote them -------------------------------------

/// When the rows were written: 2026-11-23 09:00 in Asia/Shanghai.
const T: i64 = 1_795_395_600_000;

fn quoted(json: &str) -> String {
    format!("'{}'", json.replace('\'', "''"))
}

fn first_fixture(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/stored-json-v1")
        .join(format!("{name}.jsonl"));
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_string()
}

/// What version 1 wrote: the catalog, stock, a buyer, an open flash-sale order, a token and a
/// stored response.
fn rows_of_version_1(database_version: i64) -> String {
    let line = order_line(database_version, "1, 0, 1000, 3, 990, '10:3'");
    format!(
        "INSERT INTO shops (id, name, created_at) VALUES (1, 'shop one', {T});
         INSERT INTO warehouses (id, shop_id, name, adcode, created_at) VALUES (10, 1, 'east', 310101000000, {T});
         INSERT INTO products (id, shop_id, title, description, gtin, status, created_at, updated_at)
           VALUES (100, 1, 'Tea', NULL, '6901234567892', 'active', {T}, {T});
         INSERT INTO skus (id, product_id, shop_id, name, price_fen, status, created_at, updated_at)
           VALUES (1000, 100, 1, '250 g', 990, 'active', {T}, {T});
         INSERT INTO stock (sku_id, warehouse_id, shop_id, available, reserved, sold) VALUES (1000, 10, 1, 5, 3, 1);
         INSERT INTO buyers (id, name, default_adcode, default_address_detail, created_at)
           VALUES (7, 'buyer', 310104000000, '1 Caoxi Road', {T});
         INSERT INTO flash_sales (id, shop_id, sku_id, warehouse_id, starts_at, ends_at, price_fen, allotted, remaining,
           per_buyer_limit, payment_timeout_seconds, closed, created_at)
           VALUES (5, 1, 1000, 10, {T}, {end}, 990, 10, 7, 3, 300, 0, {T});
         INSERT INTO orders (id, checkout_id, shop_id, buyer_id, state, version, total_fen, adcode, address_detail,
           created_at, payment_due_at, paid_at, cancelled_at, cancel_reason, request_ref, flash_sale_id)
           VALUES (1, 1, 1, 7, 'pending_payment', 1, 2970, 310104000000, '1 Caoxi Road', {T}, {due}, NULL, NULL, NULL,
           'ref-1', 5);
         {line}
         INSERT INTO api_tokens (id, role, subject_id, secret_sha256, label, created_at, revoked_at)
           VALUES (1, 'merchant', 1, 'c0ffee', 'ops', {T}, NULL);
         INSERT INTO idempotency_responses (id, scope, idempotency_key, request_sha256, status, body, created_at)
           VALUES (1, 'buyer:7', 'key-1', 'beef', 201, '{{\"id\":1}}', {T});",
        end = T + 3_600_000,
        due = T + 300_000,
    )
}

/// An order line (`values` but its shop) as the release of `database_version` wrote it: of
/// shop 1, named from version 31 on.
fn order_line(database_version: i64, values: &str) -> String {
    match database_version >= 31 {
        true => format!(
            "INSERT INTO order_lines (order_id, line_no, sku_id, quantity, unit_price_fen, allocations, shop_id)
           VALUES ({values}, 1);"
        ),
        false => format!(
            "INSERT INTO order_lines (order_id, line_no, sku_id, quantity, unit_price_fen, allocations)
           VALUES ({values});"
        ),
    }
}

/// What version 2 added: a paid order with the intent that paid it, a refund, a one-tap
/// agreement and a provider notification.
fn rows_of_version_2(database_version: i64) -> String {
    let line = order_line(database_version, "2, 0, 1000, 1, 990, '10:1'");
    format!(
        "INSERT INTO orders (id, checkout_id, shop_id, buyer_id, state, version, total_fen, adcode, address_detail,
           created_at, payment_due_at, paid_at, cancelled_at, cancel_reason, request_ref, flash_sale_id,
           paid_by_intent_id)
           VALUES (2, 2, 1, 7, 'paid', 2, 990, 310104000000, '1 Caoxi Road', {T}, {due}, {T}, NULL, NULL, NULL, NULL,
           20);
         {line}
         INSERT INTO payment_intents (id, checkout_id, buyer_id, home_shop_id, amount_fen, orders, status, attempts,
           one_tap, charge_reference, provider_charge_id, authorized_fen, captured_fen, authorized_at, captured_at,
           decline_code, settled, pay_by, created_at, updated_at, version)
           VALUES (20, 2, 7, 1, 990, '2:1:990:paid', 'captured', 1, 0, 'mdn-1-20-1', 'ch_1', 990, 990, {T}, {T},
           NULL, 1, {due}, {T}, {T}, 3);
         INSERT INTO refunds (id, intent_id, order_id, amount_fen, reason, status, provider_refund_id, failure,
           request_ref, created_at, settled_at)
           VALUES (30, 20, 2, 100, 'requested', 'succeeded', 're_1', NULL, 'refund-1', {T}, {T});
         INSERT INTO one_tap_agreements (id, buyer_id, provider, credential, per_order_limit_fen, per_day_limit_fen,
           created_at, revoked_at) VALUES (40, 7, 'simpay', 'wallet-demo', 50000, 200000, {T}, NULL);
         INSERT INTO provider_notifications (id, provider, event_id, event_type, reference, received_at, outcome)
           VALUES (50, 'simpay', 'evt_1', 'charge.captured', 'mdn-1-20-1', {T}, 'applied');",
        due = T + 900_000,
    )
}

/// What version 3 added: a paid order sold with a promise and dispatched, warehouse settings,
/// booked capacity, a shipment, an alert, a shortage notice and SLA rules (the JSON as that
/// release wrote it).
fn rows_of_version_3(database_version: i64) -> String {
    let capacity = match database_version >= 31 {
        true => {
            format!("INSERT INTO warehouse_capacity (warehouse_id, hour_ms, orders, shop_id) VALUES (10, {T}, 4, 1);")
        }
        false => format!("INSERT INTO warehouse_capacity (warehouse_id, hour_ms, orders) VALUES (10, {T}, 4);"),
    };
    let line = order_line(database_version, "3, 0, 1000, 1, 990, '10:1'");
    format!(
        "INSERT INTO orders (id, checkout_id, shop_id, buyer_id, state, version, total_fen, adcode, address_detail,
           created_at, payment_due_at, paid_at, cancelled_at, cancel_reason, request_ref, flash_sale_id,
           paid_by_intent_id, promise_json)
           VALUES (3, 3, 1, 7, 'paid', 2, 2190, 310104000000, '1 Caoxi Road', {T}, {due}, {T}, NULL, NULL, NULL, NULL,
           NULL, {promise});
         {line}
         INSERT INTO order_dispatches (order_id, shop_id, decided_at, decision_json) VALUES (3, 1, {T}, {decision});
         INSERT INTO warehouse_fulfillment (warehouse_id, shop_id, settings_json) VALUES (10, 1, {settings});
         {capacity}
         INSERT INTO shipments (id, shop_id, order_id, warehouse_id, carrier, waybill, state, created_at, version, body)
           VALUES (1, 1, 100, 10, 'sf', 'SF1234567890', 'created', {T}, 0, {shipment});
         INSERT INTO package_alerts (alert_key, shop_id, order_id, shipment_id, rule, is_open, raised_at, body)
           VALUES ('1-not_picked_up-1', 1, 101, 1, 'not_picked_up', 1, {T}, {alert});
         INSERT INTO shortage_notices (shop_id, order_id, warehouse_id, sku_id, noticed_at, body)
           VALUES (1, 100, 10, 7, {T}, {notice});
         INSERT INTO sla_rules (shop_id, body) VALUES (1, {rules});",
        due = T + 900_000,
        promise = quoted(&first_fixture("promise")),
        decision = quoted(&first_fixture("dispatch_decision")),
        settings = quoted(&first_fixture("fulfillment_settings")),
        shipment = quoted(&first_fixture("shipment")),
        alert = quoted(&first_fixture("alert")),
        notice = quoted(&first_fixture("shortage_notice")),
        rules = quoted(&first_fixture("sla_rules")),
    )
}

/// What version 4 added: an admin token with its lifetime, last use and scope, revoked (the
/// revocation numbered 1).
fn rows_of_version_4() -> String {
    format!(
        "INSERT INTO api_tokens (id, role, subject_id, secret_sha256, label, created_at, revoked_at, expires_at,
           last_used_at, scope, revocation)
           VALUES (2, 'admin', NULL, 'beefbeef', 'cron', {T}, {revoked}, {expires}, {used}, 'read_only', 1);
         UPDATE token_revocation_counter SET value = 1;",
        revoked = T + 120_000,
        expires = T + 86_400_000,
        used = T + 60_000,
    )
}

/// An after-sales request with the merchant, its decision and timeline as version 5 wrote them.
fn rows_of_version_5() -> String {
    let due = T + 48 * 3_600_000;
    let body = format!(
        r#"{{"shop":1,"buyer":7,"order":500,"kind":"refund_only","reason":"quality_issue","lines":[[1000,1]],"amount":60000,"decision":{{"rule_set_version":1,"shadow":false,"verdict":"to_merchant","acted":"to_merchant","fired":[{{"rule":"over_auto_approve_ceiling","amount":60000,"ceiling":50000}},{{"rule":"not_yet_picked_up"}}]}},"stage":{{"name":"with_merchant","due_at":{due}}},"inspection":null,"opened_at":{T},"timeline":[{{"at":{T},"actor":"rules","stage":{{"name":"with_merchant","due_at":{due}}}}}]}}"#
    );
    format!(
        "INSERT INTO after_sales_requests (id, shop_id, buyer_id, order_id, kind, stage, opened_at, body)
           VALUES (31, 1, 7, 500, 'refund_only', 'with_merchant', {T}, '{body}');"
    )
}

/// Shop 1's after-sales policy as version 6 wrote it: a 15-day window, rules in shadow.
fn rows_of_version_6() -> String {
    let body = r#"{"no_reason_days":15,"exempt":["perishable"],"return_shipping":"shop","auto_approve_ceiling":20000,"merchant_answer_hours":24,"buyer_refund_rate_bps_max":2000,"stalled_hours":96,"shadow":true}"#;
    format!("INSERT INTO after_sales_policies (shop_id, body) VALUES (1, '{body}');")
}

/// Two events of shard 0 and a reader's place, in the table version 8 created (a database
/// already past version 11 holds the same events in packs of one, as migration 11 leaves them).
fn rows_of_version_8(database_version: i64) -> String {
    let events = if database_version < 15 {
        "INSERT INTO outbox_events (shard, seq, at_ms, shop_id, topic, subject, body) VALUES
         (0, 1, 1000, 1, 'shop.saved', 1, '{}'), (0, 2, 1000, 1, 'order.placed', 5, '{}');"
    } else {
        "INSERT INTO outbox_packs (shard, last_seq, first_seq, at_ms, shop_id, events) VALUES
         (0, 1, 1, 1000, 1, 'shop.saved 1 {}'), (0, 2, 2, 1000, 1, 'order.placed 5 {}');"
    };
    format!("{events} INSERT INTO outbox_cursors (consumer, shard, seq) VALUES ('compass', 0, 1);")
}

/// A minute of shop 1's figures (and, in a database past version 12, its hour, as the compass
/// reader writes both).
fn rows_of_version_9(database_version: i64) -> String {
    let mut rows = "INSERT INTO compass_minutes (shop_id, minute_ms, orders, units, gmv_fen, paid_orders, paid_fen,
         cancelled_orders, expired_orders, refunds, refunded_fen) VALUES (1, 60000, 2, 3, 500, 1, 200, 1, 0, 0, 0);"
        .to_string();
    if database_version >= 16 {
        rows.push_str(
            "INSERT INTO compass_hours (shop_id, hour_ms, orders, units, gmv_fen, paid_orders, paid_fen,
             cancelled_orders, expired_orders, refunds, refunded_fen) VALUES (1, 0, 2, 3, 500, 1, 200, 1, 0, 0, 0);",
        );
    }
    rows
}

async fn version_13_rows_load(store: &Store) {
    let read = store.flash_sale_figures(shop(), 3, at(0)).await.unwrap();
    assert_eq!(read.minutes, vec![(at(60_000), read.totals)]);
    let later = store.flash_sale_figures(shop(), 3, at(120_000)).await.unwrap();
    assert_eq!((later.minutes.len(), later.totals), (0, read.totals));
    let unknown = store.flash_sale_figures(shop(), 4, at(0)).await.unwrap();
    assert_eq!(unknown, miaodan_store::SaleFigures::default());
    let figures = read.totals;
    assert_eq!(
        (figures.taps, figures.orders, figures.gmv_fen, figures.paid_fen),
        (5, 2, 1980, 990)
    );
    let provinces = store.flash_sale_provinces(shop(), 3, 10).await.unwrap();
    assert_eq!(provinces.len(), 1);
    assert_eq!(provinces[0].0, 310_000_000_000);
    assert_eq!(store.flash_sale_sold_out_at(shop(), 3).await.unwrap(), Some(at(61_000)));
}

/// What version 10 added: product 100 declared perishable.
fn rows_of_version_10() -> String {
    "UPDATE products SET goods_class = 'perishable' WHERE id = 100;".into()
}

/// What version 11 added: an endpoint of shop 1 for paid orders, with one delivery attempted
/// once.
fn rows_of_version_11() -> String {
    "INSERT INTO webhook_endpoints (id, shop_id, url, topics, description, secret, enabled, created_at_ms)
         VALUES (3, 1, 'http://127.0.0.1:9/hook', 'order.paid', NULL, 'whsec_test', 1, 1000);
     INSERT INTO webhook_deliveries (id, endpoint_id, shop_id, shard, seq, at_ms, topic, family, subject, body, state,
         attempts, next_attempt_at_ms, last_status) VALUES (4, 3, 1, 0, 2, 1000, 'order.paid', 'order', 5, '{}',
         'pending', 1, 2000, 500);
     INSERT INTO webhook_attempts (delivery_id, attempt, at_ms, status, latency_ms) VALUES (4, 1, 1500, 500, 12);"
        .into()
}

/// What version 12 added: a region's figures in the compass's breadth.
fn rows_of_version_12() -> String {
    "INSERT INTO compass_regions (shop_id, hour_ms, adcode, orders, units, gmv_fen, paid_orders, paid_fen)
         VALUES (1, 3600000, 310100000000, 2, 3, 500, 1, 200);"
        .into()
}

/// What version 13 added: sale 3's figures in its first minute, in Shanghai, and its sell-out.
fn rows_of_version_13() -> String {
    "INSERT INTO compass_flash_sale_minutes (shop_id, flash_sale, minute_ms, taps, ordered, sold_out, limit_reached,
         refused_other, orders, units, gmv_fen, paid_orders, paid_fen, unpaid_closed)
         VALUES (1, 3, 60000, 5, 2, 2, 1, 0, 2, 2, 1980, 1, 990, 0);
     INSERT INTO compass_flash_sale_provinces (shop_id, flash_sale, province_adcode, orders, units, gmv_fen)
         VALUES (1, 3, 310000000000, 2, 2, 1980);
     INSERT INTO compass_flash_sales (shop_id, flash_sale, sold_out_at_ms) VALUES (1, 3, 61000);"
        .into()
}

/// What version 14 added: shop 1 sells beauty, and its daily diagnosis report of a day.
fn rows_of_version_14() -> String {
    format!(
        "UPDATE shops SET category = 'beauty' WHERE id = 1;
         INSERT INTO diagnosis_reports (id, shop_id, kind, first_day, days, created_at, report_json)
           VALUES (3, 1, 'daily', 20000, 7, {T}, '{{}}');"
    )
}

/// A pack of two events of shard 1 (numbers 1 and 2), as version 15 writes a batch's.
fn rows_of_version_15() -> String {
    "INSERT INTO outbox_packs (shard, last_seq, first_seq, at_ms, shop_id, events) VALUES
         (1, 2, 1, 2000, 1, 'stock.changed 7 {\"sku\":7}\norder.paid 5 {\"order\":5}\n');"
        .into()
}

/// Version 16's hours are written with the minutes they sum (see [`rows_of_version_9`]).
fn rows_of_version_16() -> String {
    String::new()
}

/// An owner of shop 1 with a session, and one line of the audit log, as version 17 writes them.
fn rows_of_version_17() -> String {
    "INSERT INTO staff_members (id, shop_id, login, name, role, password_hash, created_at, disabled_at)
         VALUES (4, 1, 'owner', '店主', 'owner', '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA', 1000, NULL);
     INSERT INTO staff_sessions (id, staff_id, shop_id, secret_sha256, csrf_token, created_at, last_seen_at,
         expires_at, revoked_at) VALUES (6, 4, 1, 'ab', 'cd', 1000, 2000, 9000, NULL);
     INSERT INTO audit_log (id, shop_id, staff_id, method, route, path, status, at_ms)
         VALUES (8, 1, 4, 'POST', '/v1/products', '/v1/products', 201, 2000);"
        .into()
}

fn rows_up_to(version: i64) -> String {
    [
        (1, rows_of_version_1(version)),
        (2, rows_of_version_2(version)),
        (3, rows_of_version_3(version)),
        (4, rows_of_version_4()),
        (5, rows_of_version_5()),
        (6, rows_of_version_6()),
        (7, rows_of_version_7()),
        (8, rows_of_version_8(version)),
        (9, rows_of_version_9(version)),
        (10, rows_of_version_10()),
        (11, rows_of_version_11()),
        (12, rows_of_version_12()),
        (13, rows_of_version_13()),
        (14, rows_of_version_14()),
        (15, rows_of_version_15()),
        (16, rows_of_version_16()),
        (17, rows_of_version_17()),
        (18, rows_of_version_18()),
        (20, rows_of_version_20()),
        (21, rows_of_version_21()),
        (22, rows_of_version_22()),
        (23, rows_of_version_23()),
        (24, rows_of_version_24()),
        (25, rows_of_version_25()),
        (26, rows_of_version_26()),
        (27, rows_of_version_27()),
        (28, ROWS_OF_VERSION_28.to_string()),
        (29, ROWS_OF_VERSION_29.to_string()),
        (30, ROWS_OF_VERSION_30.to_string()),
    ]
    .into_iter()
    .filter(|(introduced, _)| *introduced <= version)
    .map(|(_, rows)| rows)
    .collect()
}

/// The body version 18 writes for an alert people worked (of shop 2, apart from the other
/// rows' shop 1): timed out, acknowledged and assigned
/// to staff 5 by a staff member, with one note from the shop's token.
const WORKED_ALERT: &str = r#"{"v":2,"key":{"shipment":2,"rule":"stalled","occurrence":1},"shop":2,"order":101,"shipment":2,"rule":"stalled","level":"timed_out","since":1795396200000,"raised_at":1795407600000,"escalated_at":null,"resolved_at":null,"deadline":1795410600000,"notify_buyer":false,"work":{"acknowledged":{"at":1795407700000,"by":{"staff":5}},"assignee":5,"notes":[{"at":1795407800000,"by":"shop_token","text":"催了快递"}],"resolution":null}}"#;

/// What version 18 added: an alert people worked, with its level, assignee and acknowledgement
/// in columns.
fn rows_of_version_18() -> String {
    format!(
        "INSERT INTO package_alerts (alert_key, shop_id, order_id, shipment_id, rule, is_open, raised_at, body,
           alert_level, assignee_staff_id, acknowledged_at)
           VALUES ('2-stalled-1', 2, 101, 2, 'stalled', 1, 1795407600000, {body}, 'timed_out', 5, 1795407700000);",
        body = quoted(WORKED_ALERT)
    )
}

/// What version 20 added: a cap on shop 1's flash sales, appealed, and a deduction from its
/// deposit after a top-up.
fn rows_of_version_20() -> String {
    "INSERT INTO penalties (id, shop_id, kind, units, until_ms, amount_fen, reason, finding_code, finding_subject,
         state, issued_at, appeal_text, appealed_at, decision_note, decided_by, decided_at)
       VALUES (4, 1, 'flash_units_cap', 50, NULL, NULL, '库存虚标', 'fake_stock', 3, 'appealed', 1000, '已补货', 2000,
         NULL, NULL, NULL),
              (5, 1, 'deposit_deduction', NULL, NULL, 300, '超时未发货', NULL, NULL, 'in_force', 3000, NULL, NULL,
         NULL, NULL, NULL);
     INSERT INTO deposit_entries (shop_id, seq, kind, amount_fen, balance_fen, penalty_id, note, at_ms)
       VALUES (1, 1, 'deposit', 1000, 1000, NULL, '保证金', 500), (1, 2, 'deduction', 300, 700, 5, NULL, 3000);"
        .into()
}

async fn version_20_rows_load(store: &Store) {
    use miaodan_domain::integrity::penalty::{PenaltyKind, PenaltyState, check_flash_sale};
    let cap = store.penalty(4).await.unwrap().unwrap();
    assert_eq!(cap.penalty.kind, PenaltyKind::FlashUnitsCap { units: 50 });
    assert_eq!(cap.penalty.state, PenaltyState::Appealed);
    assert_eq!(
        (cap.appeal_text.as_deref(), cap.finding_subject),
        (Some("已补货"), Some(3))
    );
    let biting = store.sale_penalties(shop(), at(4000)).await.unwrap();
    assert!(check_flash_sale(&biting, 51, at(4000)).is_err());
    let last = store.last_deposit_entry(shop()).await.unwrap().unwrap();
    assert_eq!((last.seq, last.balance.get(), last.penalty), (2, 700, Some(5)));
}

/// What version 21 added: risk's rule set version 2 (its document as the server writes it),
/// sale 3 in strict mode, and a kept decision: a tap of buyer 7 blocked by two rules, whose id
/// (500) is past every order's.
fn rows_of_version_21() -> String {
    let document = r#"{"rules":[{"code":"no_device","signal":"no_device","threshold":1,"points":100,"shadow":false}],"review_at":30,"challenge_at":50,"block_at":80,"strict_percent":60}"#;
    let fired = r#"[{"code":"no_device","signal":"no_device","value":1,"threshold":1,"points":100,"shadow":false},{"code":"ring","signal":"cluster_size","value":9,"threshold":6,"points":0,"shadow":true}]"#;
    format!(
        "INSERT INTO risk_rule_sets (version, document, note, created_at_ms) VALUES (2, {document}, '演练', 1000);
         INSERT INTO risk_strict_sales (shop_id, flash_sale, set_at_ms) VALUES (1, 3, 1000);
         INSERT INTO risk_decisions (id, shop_id, flash_sale, buyer_id, ordered, enforced, strict, verdict,
             shadow_verdict, score, rule_set_version, fired, at_ms, review)
             VALUES (500, 1, 3, 7, 0, 1, 1, 'block', 'block', 100, 2, {fired}, 2000, 'open');",
        document = quoted(document),
        fired = quoted(fired),
    )
}

/// What version 22 added: a kept decision about a payment attempt on intent 40 (its id, 501,
/// drawn from the order ids like a tap's).
fn rows_of_version_22() -> String {
    "INSERT INTO risk_decisions (id, shop_id, flash_sale, buyer_id, ordered, enforced, strict, verdict,
         shadow_verdict, score, rule_set_version, fired, at_ms, review, kind, subject_id)
         VALUES (501, 1, NULL, 7, 0, 1, 0, 'challenge', 'challenge', 50, 1, '[]', 3000, 'open', 'payment', 40);"
        .into()
}

async fn version_22_rows_load(store: &Store) {
    use miaodan_domain::risk::Subject;
    let payment = store.risk_decision(501).await.unwrap().unwrap();
    assert_eq!(
        payment.decision.subject,
        Subject::Payment {
            intent: miaodan_domain::ids::PaymentIntentId::new(40).unwrap()
        }
    );
    let filter = miaodan_store::DecisionFilter {
        kind: Some("tap"),
        ..Default::default()
    };
    let taps = store
        .risk_decisions(&filter, Keyset { after: None, limit: 10 })
        .await
        .unwrap();
    assert!(taps.iter().all(|d| d.decision.subject.kind() == "tap"));
}

/// What version 23 added: shop 1's merchant added 40 units of SKU 7 in warehouse 1 the hour
/// before sale 3 and removed 30 the hour after.
fn rows_of_version_23() -> String {
    "INSERT INTO stock_movements (shop_id, sku_id, warehouse_id, delta, available_after, at_ms, cause)
       VALUES (1, 7, 1, 40, 140, 1000, 'merchant_set'), (1, 7, 1, -30, 110, 9000, 'merchant_set');"
        .into()
}

async fn version_23_rows_load(store: &Store) {
    let around = store
        .stock_moved_around(7, 1, (at(2000), at(8000)), 3_600_000)
        .await
        .unwrap();
    assert_eq!((around.added_before, around.removed_after), (40, 30));
}

/// What version 24 added: shop 1's parcels of warehouse 10 with carrier `sf` in one hour.
fn rows_of_version_24() -> String {
    "INSERT INTO compass_carriers (shop_id, hour_ms, warehouse, carrier, shipped, delivered, delivered_late)
       VALUES (1, 3600000, 10, 'sf', 5, 4, 1);"
        .into()
}

async fn version_24_rows_load(store: &Store) {
    let breakdown = store.promise_figures(shop(), at(0), at(7_200_000)).await.unwrap();
    let sf = breakdown.carriers.iter().find(|c| c.carrier == "sf").unwrap();
    assert_eq!(
        (sf.warehouse, sf.shipped, sf.delivered, sf.delivered_late),
        (10, 5, 4, 1)
    );
}

async fn version_21_rows_load(store: &Store) {
    let set = store.current_risk_rule_set().await.unwrap().unwrap();
    assert_eq!((set.version, set.note.as_str()), (2, "演练"));
    assert_eq!(
        store.strict_sales(0, 1).await.unwrap(),
        vec![FlashSaleId::new(3).unwrap()]
    );
    let kept = store.risk_decision(500).await.unwrap().unwrap();
    assert_eq!(kept.review, miaodan_store::Review::Open);
    assert_eq!(
        kept.decision.subject.sale(),
        FlashSaleId::new(3),
        "a decision from before 22 is a tap"
    );
    let fired = &kept.decision.assessment.fired;
    assert_eq!((fired.len(), fired[1].shadow, fired[1].value), (2, true, 9));
    assert!(
        store.id_maxima().await.unwrap().order >= 500,
        "a decision's id is never handed out again"
    );
}

/// What version 25 added: an open challenge of buyer 7 on sale 3 (its check's state as the
/// simulator writes it) and a passed one of buyer 8 whose pass runs long, and a stepped-up
/// decision of buyer 8.
fn rows_of_version_25() -> String {
    "INSERT INTO risk_challenges (id, buyer_id, kind, flash_sale, check_state, prompt_en, prompt_zh, attempts, state,
         created_at_ms, expires_at_ms, passed_at_ms, pass_until_ms)
       VALUES (40, 7, 'tap', 3, 'simcaptcha1:00:ab', '7 + 5 = ?', '7 加 5 等于多少？', 1, 'open', 1000, 301000, NULL, NULL),
              (41, 8, 'checkout', NULL, 'simcaptcha1:01:cd', '1 + 1 = ?', '1 加 1 等于多少？', 0, 'passed', 1000,
               301000, 2000, 99999999999999);
     INSERT INTO risk_decisions (id, shop_id, flash_sale, buyer_id, ordered, enforced, strict, verdict,
         shadow_verdict, score, rule_set_version, fired, at_ms, review, kind, stepped_up)
         VALUES (502, 1, NULL, 8, 1, 1, 0, 'review', 'challenge', 60, 2, '[]', 3000, 'open', 'checkout', 1);"
        .into()
}

/// What version 26 added: a conversation handed over to shop 2, with its two messages.
fn rows_of_version_26() -> String {
    "INSERT INTO assistant_conversations (id, buyer_id, state, dialogue, messages, handed_to_shop, handover_summary,
         handed_over_at_ms, created_at_ms, updated_at_ms)
       VALUES (60, 7, 'handed_over', '{}', 2, 2, 'the buyer asked for a person', 5000, 4000, 5000);
     INSERT INTO assistant_messages (conversation_id, seq, author, body, at_ms, understood, action)
       VALUES (60, 1, 'assistant', '你好', 4000, NULL, NULL),
              (60, 2, 'buyer', '转人工', 5000, NULL, NULL);"
        .into()
}

/// What version 27 added: when a request settled. Request 33 was refunded at `T + 2000`.
fn rows_of_version_27() -> String {
    let body = format!(
        r#"{{"shop":1,"buyer":7,"order":500,"kind":"refund_only","reason":"no_reason","lines":[[1000,1]],"amount":100,"decision":{{"rule_set_version":1,"shadow":false,"verdict":"approve","acted":"approve","fired":[]}},"stage":{{"name":"refunded","due_at":null}},"inspection":null,"opened_at":{T},"timeline":[{{"at":{T},"actor":"rules","stage":{{"name":"refunding","due_at":null}}}},{{"at":{},"actor":"provider","stage":{{"name":"refunded","due_at":null}}}}]}}"#,
        T + 2000
    );
    format!(
        "INSERT INTO after_sales_requests (id, shop_id, buyer_id, order_id, kind, stage, opened_at, body, settled_at_ms)
           VALUES (33, 1, 7, 500, 'refund_only', 'refunded', {T}, '{body}', {});",
        T + 2000
    )
}

/// What version 28 added: a shard's lease held by a member, and that member.
const ROWS_OF_VERSION_28: &str =
    "INSERT INTO shard_leases (shard, owner, epoch, expires_at_ms) VALUES (0, 41, 3, 1795407600000);
    INSERT INTO cluster_members (id, address, role, started_at_ms, heartbeat_at_ms)
      VALUES (41, 'http://127.0.0.1:8081', 'leader', 1795407500000, 1795407599000);";

/// What version 29 added: a block of orders reserved far above the stored ones.
const ROWS_OF_VERSION_29: &str = "INSERT INTO id_blocks (kind, next_free) VALUES ('order', 90000);";

/// What version 30 added: the members' secret, drawn by an earlier process, and a member's
/// wire shape.
const ROWS_OF_VERSION_30: &str = "INSERT INTO cluster_secret (id, secret) VALUES (1, 'drawn-before');
    INSERT INTO cluster_members (id, address, role, started_at_ms, heartbeat_at_ms, wire)
      VALUES (42, 'http://127.0.0.1:8082', 'standby', 1795407500000, 1795407599000, '00000000000000aa');";

/// The secret stands: a process opening the database later reads it, whatever it drew. The
/// member of version 28 has no wire shape; the one of version 30 has its own.
async fn version_30_rows_load(store: &Store) {
    assert_eq!(store.member_secret("drawn-now").await.unwrap(), "drawn-before");
    let members = store.members().await.unwrap();
    let wires: Vec<(i64, &str)> = members.iter().map(|m| (m.id, &*m.wire)).collect();
    assert_eq!(wires, [(41, ""), (42, "00000000000000aa")]);
}

/// The reservation stands: aligning with the stored orders does not lower it, and the next
/// block starts there.
async fn version_29_rows_load(store: &Store) {
    store.align_id_blocks().await.unwrap();
    let first = store
        .reserve_ids(miaodan_store::id_blocks::IdKind::Order, 10)
        .await
        .unwrap();
    assert_eq!(first, 90_000);
}

/// The lease and its holder read back; the lease's epoch goes on from where it was.
async fn version_28_rows_load(store: &Store) {
    let leases = store.shard_leases().await.unwrap();
    assert_eq!((leases[0].owner, leases[0].epoch), (41, 3));
    assert!(leases[0].expires_in_ms < 0, "expired long ago: {leases:?}");
    let members = store.members().await.unwrap();
    assert_eq!((members[0].id, members[0].role.as_str()), (41, "leader"));
    let taken = store
        .take_leases(42, &[0], 3_000, miaodan_store::cluster::Taking::Expired)
        .await
        .unwrap()
        .expect("expired");
    assert_eq!(taken[0].epoch, 4);
}

/// A starting shard reads back a request settled within the retention, and not an older one.
async fn version_27_rows_load(store: &Store) {
    let id = miaodan_domain::ids::AfterSalesId::new(33).unwrap();
    let loaded = |settled_after: i64| async move {
        let snapshot = store
            .load_shard(
                0,
                1,
                ShardHorizons {
                    after_sales_settled_after: at(settled_after),
                    ..ShardHorizons::at(at(0))
                },
            )
            .await
            .unwrap();
        snapshot.after_sales.iter().any(|(held, _)| *held == id)
    };
    assert!(loaded(T + 1999).await, "settled after the horizon: read back");
    assert!(!loaded(T + 2000).await, "settled at the horizon: evicted already");
}

async fn version_26_rows_load(store: &Store) {
    let id = miaodan_domain::ids::ConversationId::new(60).unwrap();
    let conversation = store.conversation(id).await.unwrap().expect("the conversation is kept");
    assert_eq!(conversation.buyer.get(), 7);
    let handover = conversation.handover.expect("handed over");
    assert_eq!(handover.shop.map(|s| s.get()), Some(2));
    let messages = store.conversation_messages(id).await.unwrap();
    assert_eq!(
        messages.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(),
        ["你好", "转人工"]
    );
}

async fn version_25_rows_load(store: &Store) {
    use miaodan_store::{ChallengeKind, ChallengeState};
    let buyer = |id| miaodan_domain::BuyerId::new(id).unwrap();
    let open = store.open_risk_challenge(buyer(7)).await.unwrap().unwrap();
    assert_eq!(
        (open.id, open.kind, open.state, open.attempts),
        (40, ChallengeKind::Tap, ChallengeState::Open, 1)
    );
    assert_eq!(open.sale, FlashSaleId::new(3));
    assert_eq!(open.prompt_zh, "7 加 5 等于多少？");
    let passed = store.risk_challenge(41).await.unwrap().unwrap();
    assert_eq!(
        (passed.kind, passed.state, passed.sale),
        (ChallengeKind::Checkout, ChallengeState::Passed, None)
    );
    assert_eq!(
        store.running_risk_passes(at(5000)).await.unwrap(),
        vec![(buyer(8), at(99_999_999_999_999))]
    );
    assert!(store.id_maxima().await.unwrap().risk_challenge >= 41);
    let stepped = store.risk_decision(502).await.unwrap().unwrap();
    assert!(stepped.decision.assessment.stepped_up);
    let earlier = store.risk_decision(500).await.unwrap().unwrap();
    assert!(
        !earlier.decision.assessment.stepped_up,
        "a decision from before version 25 did not step up"
    );
}

/// An approved return awaiting its parcel, with the pickup the platform booked (the parcel as a
/// shipment, its price), and its waybill's row, as version 7 wrote them.
fn rows_of_version_7() -> String {
    let due = T + 7 * 24 * 3_600_000;
    let stage = format!(r#"{{"name":"awaiting_return","due_at":{due}}}"#);
    let shipment = first_fixture("shipment");
    let body = format!(
        r#"{{"shop":1,"buyer":7,"order":100,"kind":"return_and_refund","reason":"no_reason","lines":[[1000,1]],"amount":990,"decision":{{"rule_set_version":1,"shadow":false,"verdict":"approve","acted":"approve","fired":[]}},"stage":{stage},"return_shipping":"platform_first_weight","inspection":null,"opened_at":{T},"timeline":[{{"at":{T},"actor":"rules","stage":{{"name":"approved","due_at":null}}}},{{"at":{T},"actor":"rules","stage":{stage}}}],"return_pickup":{{"shipment":{shipment},"first_weight":1200,"additional":0,"stalled_after_ms":259200000}}}}"#
    );
    format!(
        "INSERT INTO after_sales_requests (id, shop_id, buyer_id, order_id, kind, stage, opened_at, body)
           VALUES (32, 1, 7, 100, 'return_and_refund', 'awaiting_return', {T}, {body});
         INSERT INTO after_sales_return_waybills (carrier, waybill, request_id, shop_id)
           VALUES ('sf', 'SF1234567890', 32, 1);",
        body = quoted(&body)
    )
}

// ---- what the rows must load as -----------------------------------------------------------------

fn shop() -> ShopId {
    ShopId::new(1).unwrap()
}

fn sku() -> SkuId {
    SkuId::new(1000).unwrap()
}

fn warehouse() -> WarehouseId {
    WarehouseId::new(10).unwrap()
}

fn at(ms: i64) -> Timestamp {
    Timestamp::from_unix_ms(ms)
}

fn order(id: i64, units: i64, state: OrderState) -> Order {
    Order {
        id: OrderId::new(id).unwrap(),
        checkout: CheckoutId::new(id).unwrap(),
        shop: shop(),
        buyer: BuyerId::new(7).unwrap(),
        lines: vec![OrderLine {
            sku: sku(),
            quantity: Quantity::new(units).unwrap(),
            unit_price: Fen::from_stored(990).unwrap(),
            allocations: vec![Allocation {
                warehouse: warehouse(),
                quantity: units,
            }],
        }],
        total: Fen::from_stored(990 * units).unwrap(),
        address: Address {
            adcode: Adcode::from_stored(310_104_000_000),
            detail: Text::from_stored("1 Caoxi Road".into()),
        },
        state,
        version: 1,
        created_at: at(T),
        payment_due_at: at(T + 900_000),
        paid_at: None,
        paid_by: None,
        cancelled_at: None,
        cancel_reason: None,
        flash_sale: None,
        promise: None,
    }
}

async fn version_1_rows_load(store: &Store) {
    assert_eq!(store.shop(shop()).await.unwrap().unwrap().name.as_str(), "shop one");
    let (product, skus) = store.product(ProductId::new(100).unwrap()).await.unwrap().unwrap();
    assert_eq!(product.gtin.unwrap().as_str(), "6901234567892");
    assert_eq!(skus.len(), 1);
    assert_eq!(skus[0].price.get(), 990);
    assert_eq!(
        store.stock_of(sku()).await.unwrap(),
        vec![(
            warehouse(),
            StockLevel {
                available: 5,
                reserved: 3,
                sold: 1
            }
        )]
    );
    let buyer = store.buyer(BuyerId::new(7).unwrap()).await.unwrap().unwrap();
    assert_eq!(buyer.default_address.unwrap().detail.as_str(), "1 Caoxi Road");
    let token = store.token(1).await.unwrap().unwrap();
    assert_eq!(
        (token.role, token.subject, token.scope),
        (Role::Merchant, Some(1), TokenScope::ReadWrite)
    );
    assert_eq!(store.idempotency_record(1).await.unwrap().unwrap().body, r#"{"id":1}"#);
    let open = Order {
        flash_sale: FlashSaleId::new(5),
        payment_due_at: at(T + 300_000),
        ..order(1, 3, OrderState::PendingPayment)
    };
    assert_eq!(store.order(open.id).await.unwrap(), Some(open.clone()));
    assert_eq!(
        store
            .flash_sale(FlashSaleId::new(5).unwrap())
            .await
            .unwrap()
            .unwrap()
            .remaining,
        7
    );
    let snapshot = store.load_shard(0, 1, ShardHorizons::at(at(0))).await.unwrap();
    assert_eq!(snapshot.open_orders, vec![open.clone()]);
    assert_eq!(
        snapshot.recent_requests,
        vec![(RequestRef("ref-1".into()), open.id, at(T))]
    );
    assert_eq!(snapshot.flash_sales.len(), 1);
    assert_eq!(snapshot.flash_sales[0].1, vec![(BuyerId::new(7).unwrap(), 3)]);
}

async fn version_2_rows_load(store: &Store) {
    let paid = Order {
        version: 2,
        paid_at: Some(at(T)),
        paid_by: PaymentIntentId::new(20),
        ..order(2, 1, OrderState::Paid)
    };
    assert_eq!(store.order(paid.id).await.unwrap(), Some(paid));
    let intent = store
        .payment_intent(PaymentIntentId::new(20).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(intent.status, IntentStatus::Captured);
    assert_eq!(intent.orders.len(), 1);
    assert_eq!(intent.refunds.len(), 1);
    assert_eq!(intent.refunds[0].amount.get(), 100);
    assert_eq!(store.one_tap_agreements(None).await.unwrap().len(), 1);
    assert_eq!(
        store.notification_outcomes().await.unwrap(),
        vec![("applied".to_string(), 1)]
    );
}

async fn version_3_rows_load(store: &Store) {
    let promise = samples::promises().swap_remove(0);
    let dispatched = Order {
        version: 2,
        paid_at: Some(at(T)),
        total: Fen::from_stored(2_190).unwrap(),
        promise: Some(promise),
        ..order(3, 1, OrderState::Paid)
    };
    assert_eq!(store.order(dispatched.id).await.unwrap(), Some(dispatched.clone()));
    let decision = samples::dispatch_decisions().swap_remove(0);
    assert_eq!(
        store.dispatch_of(dispatched.id).await.unwrap(),
        Some((shop(), decision.clone()))
    );
    let settings = samples::fulfillment_settings().swap_remove(0);
    assert_eq!(
        store.fulfillment_settings(warehouse()).await.unwrap(),
        Some(settings.clone())
    );
    assert_eq!(
        store.capacity_of(warehouse(), at(T), at(T + 1)).await.unwrap(),
        vec![(at(T), 4)]
    );
    let shipment = samples::shipments().swap_remove(0);
    assert_eq!(
        store.shipment(ShipmentId::new(1).unwrap()).await.unwrap(),
        Some(shipment)
    );
    let open = package_center(store, shop(), true).await.unwrap().0;
    assert_eq!(open, vec![samples::alerts().swap_remove(0)]);
    let notices = package_center(store, shop(), false).await.unwrap().1;
    assert_eq!(notices, vec![samples::shortage_notices().swap_remove(0)]);
    let snapshot = store.load_shard(0, 1, ShardHorizons::at(at(0))).await.unwrap();
    assert_eq!(snapshot.warehouse_settings, vec![(warehouse(), settings)]);
    assert_eq!(snapshot.fulfilling.len(), 1);
    assert_eq!(snapshot.fulfilling[0].order, dispatched);
    assert_eq!(snapshot.fulfilling[0].decision, decision);
    assert_eq!(snapshot.sla_rules, vec![(shop(), samples::sla_rules().swap_remove(0))]);
    // The booked hours load by their shop (from version 31 on; filled in from the warehouse's
    // before): shop 1 falls in shard 1 of 2.
    let of_shop = store.load_shard(1, 2, ShardHorizons::at(at(0))).await.unwrap();
    assert_eq!(of_shop.capacity, vec![(warehouse(), at(T), 4)]);
    let other = store.load_shard(0, 2, ShardHorizons::at(at(0))).await.unwrap();
    assert_eq!(other.capacity, vec![]);
}

async fn version_4_rows_load(store: &Store) {
    let token = store.token(2).await.unwrap().unwrap();
    assert_eq!(token.scope, TokenScope::ReadOnly);
    assert_eq!(token.expires_at, at(T + 86_400_000));
    assert_eq!(token.last_used_at, Some(at(T + 60_000)));
    assert_eq!(token.revoked_at, Some(at(T + 120_000)));
    assert_eq!(store.revocation_counter().await.unwrap(), 1);
    assert_eq!(store.revocations_after(0).await.unwrap(), vec![(1, 2)]);
}

async fn version_5_rows_load(store: &Store) {
    use miaodan_domain::after_sales::request::Stage;
    use miaodan_domain::after_sales::rules::Fired;
    let id = miaodan_domain::ids::AfterSalesId::new(31).unwrap();
    let saved = store.after_sales_request(id).await.unwrap().unwrap();
    let request = &saved.request;
    assert_eq!(
        request.stage,
        Stage::WithMerchant {
            due_at: at(T + 48 * 3_600_000)
        }
    );
    assert_eq!(request.amount, Fen::from_const(60_000));
    assert_eq!(
        request.decision.fired,
        vec![
            Fired::OverAutoApproveCeiling {
                amount: Fen::from_const(60_000),
                ceiling: Fen::from_const(50_000)
            },
            Fired::NotYetPickedUp
        ]
    );
    let snapshot = store.load_shard(0, 1, ShardHorizons::at(at(0))).await.unwrap();
    assert!(
        snapshot.after_sales.contains(&(id, request.clone())),
        "{:?}",
        snapshot.after_sales
    );
}

async fn version_6_rows_load(store: &Store) {
    use miaodan_domain::after_sales::policy::{AfterSalesPolicy, ExemptGoods, ReturnShipping, ShopPolicy};
    use miaodan_domain::after_sales::rules::RuleMode;
    let snapshot = store.load_shard(0, 1, ShardHorizons::at(at(0))).await.unwrap();
    let policy = AfterSalesPolicy {
        no_reason_days: 15,
        exempt: vec![ExemptGoods::Perishable],
        return_shipping: ReturnShipping::Shop,
        auto_approve_ceiling: Fen::from_const(20_000),
        merchant_answer_hours: 24,
        buyer_refund_rate_bps_max: 2_000,
        stalled_hours: 96,
    };
    let shadow = ShopPolicy {
        policy,
        mode: RuleMode::Shadow,
    };
    assert_eq!(snapshot.after_sales_policies, vec![(shop(), shadow)]);
}

async fn version_7_rows_load(store: &Store) {
    use miaodan_domain::fulfillment::CarrierId;
    let saved = store
        .after_sales_by_return_waybill(CarrierId::Sf, "SF1234567890")
        .await
        .unwrap()
        .expect("the return's request, by its waybill");
    assert_eq!(saved.id.get(), 32);
    let pickup = saved.request.return_pickup.clone().expect("the booked pickup");
    assert_eq!(pickup.shipment.waybill.as_str(), "SF1234567890");
    assert_eq!(
        (pickup.first_weight, pickup.additional),
        (Fen::from_const(1_200), Fen::ZERO)
    );
    assert_eq!(saved.request.due_at(), Some(at(T + 7 * 24 * 3_600_000)));
    assert!(
        store
            .after_sales_by_return_waybill(CarrierId::Zto, "SF1234567890")
            .await
            .unwrap()
            .is_none()
    );
}

async fn version_10_rows_load(store: &Store) {
    use miaodan_domain::after_sales::policy::ExemptGoods;
    let (product, _) = store.product(ProductId::new(100).unwrap()).await.unwrap().unwrap();
    assert_eq!(product.goods_class, Some(ExemptGoods::Perishable));
}

async fn version_11_rows_load(store: &Store) {
    let endpoint = store.webhook_endpoint(3).await.unwrap().unwrap();
    assert_eq!((endpoint.shop, endpoint.enabled), (shop(), true));
    assert!(endpoint.topics.matches("order.paid"));
    let delivery = store.webhook_delivery(4).await.unwrap().unwrap();
    assert_eq!((delivery.attempts, delivery.last_status), (1, Some(500)));
    let attempts = store.webhook_attempts(&[4]).await.unwrap();
    assert_eq!(attempts.iter().map(|a| a.latency_ms).collect::<Vec<_>>(), vec![12]);
}

async fn version_14_rows_load(store: &Store) {
    let shop = store.shop(ShopId::new(1).unwrap()).await.unwrap().unwrap();
    assert_eq!(shop.category, miaodan_domain::catalog::ShopCategory::Beauty);
    let report = store.diagnosis_report(3).await.unwrap().unwrap();
    assert_eq!((report.kind.as_str(), report.period.days), ("daily", 7));
    assert_eq!(store.id_maxima().await.unwrap().diagnosis_report, 3);
}

/// A shop written before version 14 sells in the category `other`.
async fn a_shop_from_before_categories_is_other(store: &Store) {
    let shop = store.shop(ShopId::new(1).unwrap()).await.unwrap().unwrap();
    assert_eq!(shop.category, miaodan_domain::catalog::ShopCategory::Other);
}

/// A product written before version 7 is ordinary goods.
async fn a_product_from_before_goods_classes_is_ordinary(store: &Store) {
    let (product, _) = store.product(ProductId::new(100).unwrap()).await.unwrap().unwrap();
    assert_eq!(product.goods_class, None);
}

/// A token written before version 4 has no lifetime: the upgrade gives it its role's default
/// (a merchant's 90 days) from the moment of the upgrade.
async fn a_token_from_before_lifetimes_lives_its_roles_default_from_the_upgrade(store: &Store, upgraded: Timestamp) {
    let token = store.token(1).await.unwrap().unwrap();
    let expected = upgraded.plus_seconds(90 * 86_400).unix_ms();
    let expires = token.expires_at.unix_ms();
    // The upgrade ran within a few seconds of `upgraded` (SQLite's clock has whole seconds).
    assert!(
        (expected - 2_000..=expected + 60_000).contains(&expires),
        "a legacy merchant token expires at {expires}, not about {expected}"
    );
    assert_eq!((token.last_used_at, token.revoked_at), (None, None));
}

async fn version_8_rows_load(store: &Store) {
    let events: Vec<(i64, String, i64)> = store
        .outbox_after(0, 0, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.seq, e.topic, e.subject))
        .collect();
    assert_eq!(events, vec![(1, "shop.saved".into(), 1), (2, "order.placed".into(), 5)]);
    assert_eq!(store.outbox_cursor("compass").await.unwrap(), vec![(0, 1)]);
}

async fn version_17_rows_load(store: &Store) {
    let (session, member) = store.staff_session_by_secret("ab").await.unwrap().unwrap();
    assert_eq!((session.id, session.staff, session.shop), (6, 4, Some(shop())));
    assert_eq!((session.last_seen_at, session.expires_at), (at(2000), at(9000)));
    assert_eq!(member.login.as_str(), "owner");
    assert_eq!(member.role, miaodan_domain::staff::StaffRole::Owner);
    assert_eq!(store.staff_member_by_login("owner").await.unwrap(), Some(member));
    let filter = miaodan_store::AuditFilter {
        shop: Some(shop()),
        staff: Some(4),
        before: None,
        limit: 10,
    };
    let lines = store.audit_log(&filter).await.unwrap();
    assert_eq!(lines.len(), 1);
    assert_eq!(
        (lines[0].id, lines[0].status, lines[0].route.as_str()),
        (8, 201, "/v1/products")
    );
    let maxima = store.id_maxima().await.unwrap();
    assert_eq!(
        (maxima.staff_member, maxima.staff_session, maxima.audit_entry),
        (4, 6, 8)
    );
}

async fn version_18_rows_load(store: &Store) {
    let mine = AlertFilter {
        shop: ShopId::new(2).unwrap(),
        open_only: true,
        kinds: AlertKinds::All,
        level: Some(AlertLevel::TimedOut),
        work: AlertWorkFilter {
            assignee: Some(Assignee::Staff(StaffRef::new(5).unwrap())),
            acknowledged: Some(true),
        },
    };
    let page = Keyset { after: None, limit: 10 };
    let listed = store.package_center(&mine, page).await.unwrap();
    let [PackageCenterEntry::Sla(alert)] = listed.as_slice() else {
        panic!("one worked alert, got {listed:?}")
    };
    assert_eq!(alert.key.to_string(), "2-stalled-1");
    assert_eq!(alert.work.assignee, StaffRef::new(5));
    assert_eq!(
        alert.work.acknowledged.as_ref().map(|a| a.by),
        Some(Worker::Staff(StaffRef::new(5).unwrap()))
    );
    let notes: Vec<(&str, Worker)> = alert.work.notes.iter().map(|n| (n.text.as_str(), n.by)).collect();
    assert_eq!(notes, [("催了快递", Worker::ShopToken)]);
}

async fn version_15_rows_load(store: &Store) {
    let events: Vec<(i64, String, i64, String)> = store
        .outbox_after(1, 0, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.seq, e.topic, e.subject, e.body))
        .collect();
    assert_eq!(
        events,
        vec![
            (1, "stock.changed".into(), 7, r#"{"sku":7}"#.into()),
            (2, "order.paid".into(), 5, r#"{"order":5}"#.into())
        ]
    );
    assert_eq!(
        store.outbox_after(1, 1, 10).await.unwrap().len(),
        1,
        "a cursor inside a pack"
    );
}

async fn version_9_rows_load(store: &Store) {
    // By the hour (its hours, which migration 16 summed from the minutes) and by the minute.
    for (to, bucket, start) in [(3_600_000, 3_600_000, 0), (120_000, 60_000, 60_000)] {
        let series = store.compass_series(Some(shop()), at(0), at(to), bucket).await.unwrap();
        assert_eq!(series.len(), 1);
        let (first, figures) = series[0];
        assert_eq!(first, at(start));
        assert_eq!(
            (figures.orders, figures.units, figures.gmv_fen, figures.paid_fen),
            (2, 3, 500, 200)
        );
    }
}

async fn version_12_rows_load(store: &Store) {
    let regions = store
        .compass_regions(Some(shop()), at(0), at(7_200_000), miaodan_store::RegionLevel::Province)
        .await
        .unwrap();
    let figures = miaodan_store::RegionFigures {
        orders: 2,
        units: 3,
        gmv_fen: 500,
        paid_orders: 1,
        paid_fen: 200,
    };
    assert_eq!(regions, vec![(310_000_000_000, figures)]);
}

/// What the current release writes goes into a migrated database and reads back.
async fn todays_writes_land(store: &Store) {
    let head = store.outbox_heads().await.unwrap().first().map_or(0, |(_, seq)| *seq);
    let mut placed = order(9, 2, OrderState::PendingPayment);
    placed.promise = Some(samples::promises().swap_remove(1));
    let settings = FulfillmentSettings {
        orders_per_hour: 77,
        ..FulfillmentSettings::standard()
    };
    let effects = vec![
        Effect::OrderCreated {
            order: placed.clone(),
            request: None,
        },
        Effect::FulfillmentConfigured {
            shop: shop(),
            warehouse: WarehouseId::new(11).unwrap(),
            settings: settings.clone(),
        },
        Effect::ShipmentSaved(samples::shipments().swap_remove(1)),
    ];
    store
        .writer(0)
        .await
        .unwrap()
        .commit_batch(
            &effects,
            &[],
            miaodan_domain::Timestamp::from_unix_ms(1_700_000_000_000),
        )
        .await
        .unwrap();
    assert_eq!(store.order(placed.id).await.unwrap(), Some(placed));
    // Their events follow the shard's last one.
    let topics: Vec<(i64, String)> = store
        .outbox_after(0, head, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.seq, e.topic))
        .collect();
    let shipment_state = samples::shipments().swap_remove(1).state.as_str();
    assert_eq!(
        topics,
        vec![
            (head + 1, "order.placed".to_string()),
            (head + 2, "fulfillment.configured".to_string()),
            (head + 3, format!("shipment.{shipment_state}")),
        ]
    );
    assert_eq!(
        store.fulfillment_settings(WarehouseId::new(11).unwrap()).await.unwrap(),
        Some(settings)
    );
    assert_eq!(
        store.shipment(ShipmentId::new(2).unwrap()).await.unwrap(),
        Some(samples::shipments().swap_remove(1))
    );
    // A token: issued, used (a later use is kept over an earlier one written after it),
    // listed, revoked once (the revocation numbered after the ones before).
    let token = TokenRecord {
        id: 9,
        role: Role::Buyer,
        subject: Some(7),
        secret_sha256: "ab".into(),
        label: None,
        scope: TokenScope::ReadWrite,
        created_at: at(T),
        expires_at: at(T + 1_000),
        last_used_at: None,
        revoked_at: None,
    };
    store.insert_token(&token, None).await.unwrap();
    store.record_token_use(&[(9, at(T + 5))]).await.unwrap();
    store.record_token_use(&[(9, at(T + 3))]).await.unwrap();
    let mine = TokenFilter {
        role: Some(Role::Buyer),
        subject: Some(7),
        before: None,
        limit: 10,
    };
    let listed: Vec<i64> = store.tokens(&mine).await.unwrap().iter().map(|t| t.id).collect();
    assert_eq!(listed, vec![9]);
    let seen = store.revocation_counter().await.unwrap();
    let revoked = store.revoke_token(9, at(T + 10)).await.unwrap().unwrap();
    assert_eq!(
        (revoked.last_used_at, revoked.revoked_at),
        (Some(at(T + 5)), Some(at(T + 10)))
    );
    assert_eq!(store.revocations_after(seen).await.unwrap(), vec![(seen + 1, 9)]);
    let again = store.revoke_token(9, at(T + 20)).await.unwrap().unwrap();
    assert_eq!(again.revoked_at, Some(at(T + 10)), "the first revocation stands");
    assert_eq!(store.revoke_token(404, at(T)).await.unwrap(), None);
}

// ---- tests ----------------------------------------------------------------------------------------

async fn every_earlier_version_migrates_to_the_current_one_and_keeps_its_rows(backend: Backend) {
    let current = current_version();
    assert_eq!(
        current, 31,
        "a new migration: add the rows it introduces here (19 and 31 added none)"
    );
    let fresh = Database::fresh(backend).await;
    drop(fresh.open().await);
    assert_eq!(fresh.schema_version().await, current);
    let fresh_schema = schema_of(&fresh).await;

    for version in migration_files().into_iter().map(|(version, _)| version) {
        let db = database_at(backend, version).await;
        db.execute(&rows_up_to(version)).await;
        let upgraded = Timestamp::from_unix_ms(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis() as i64,
        );
        let store = db.open().await;
        assert_eq!(db.schema_version().await, current, "from version {version}");
        assert_eq!(schema_of(&db).await, fresh_schema, "from version {version}");
        version_1_rows_load(&store).await;
        if version >= 2 {
            version_2_rows_load(&store).await;
        }
        if version >= 3 {
            version_3_rows_load(&store).await;
        }
        if version >= 4 {
            version_4_rows_load(&store).await;
        } else {
            a_token_from_before_lifetimes_lives_its_roles_default_from_the_upgrade(&store, upgraded).await;
        }
        if version >= 5 {
            version_5_rows_load(&store).await;
        }
        if version >= 6 {
            version_6_rows_load(&store).await;
        }
        if version >= 7 {
            version_7_rows_load(&store).await;
        }
        if version >= 8 {
            version_8_rows_load(&store).await;
        }
        if version >= 9 {
            version_9_rows_load(&store).await;
        }
        if version >= 10 {
            version_10_rows_load(&store).await;
        } else {
            a_product_from_before_goods_classes_is_ordinary(&store).await;
        }
        if version >= 11 {
            version_11_rows_load(&store).await;
        }
        if version >= 12 {
            version_12_rows_load(&store).await;
        }
        if version >= 13 {
            version_13_rows_load(&store).await;
        }
        if version >= 14 {
            version_14_rows_load(&store).await;
        } else {
            a_shop_from_before_categories_is_other(&store).await;
        }
        if version >= 15 {
            version_15_rows_load(&store).await;
        }
        if version >= 17 {
            version_17_rows_load(&store).await;
        }
        if version >= 18 {
            version_18_rows_load(&store).await;
        }
        if version >= 20 {
            version_20_rows_load(&store).await;
        }
        if version >= 21 {
            version_21_rows_load(&store).await;
        }
        if version >= 22 {
            version_22_rows_load(&store).await;
        }
        if version >= 23 {
            version_23_rows_load(&store).await;
        }
        if version >= 24 {
            version_24_rows_load(&store).await;
        }
        if version >= 25 {
            version_25_rows_load(&store).await;
        }
        if version >= 26 {
            version_26_rows_load(&store).await;
        }
        if version >= 27 {
            version_27_rows_load(&store).await;
        }
        if version >= 28 {
            version_28_rows_load(&store).await;
        }
        if version >= 29 {
            version_29_rows_load(&store).await;
        }
        if version >= 30 {
            version_30_rows_load(&store).await;
        }
        drop(store);
        // Opening a current database again changes nothing.
        let store = db.open().await;
        assert_eq!(db.schema_version().await, current);
        assert_eq!(schema_of(&db).await, fresh_schema);
        version_1_rows_load(&store).await;
        todays_writes_land(&store).await;
    }
}

async fn migrations_1_to_3_give_the_schema_the_release_before_them_created(backend: Backend) {
    let db = database_at(backend, 3).await;
    assert_eq!(schema_of(&db).await, fixture_schema(backend));
}

async fn a_database_of_a_later_version_is_refused(backend: Backend) {
    let db = database_at(backend, current_version()).await;
    db.execute(&format!(
        "UPDATE schema_version SET version = {}",
        current_version() + 1
    ))
    .await;
    let opened = Store::open(&db.url, miaodan_store::Durability::PowerLossSafe).await;
    assert!(matches!(opened, Err(miaodan_store::StoreError::Corrupt(_))));
}

/// Members of a cluster started at once on a fresh PostgreSQL database migrate one after
/// another: every one opens it, at the current version. (SQLite serves one process.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_started_together_on_a_fresh_postgres_database_all_open_it() {
    if crate::support::skip_postgres() {
        return;
    }
    let db = Database::fresh(Backend::Postgres).await;
    let opening = (0..4).map(|_| miaodan_store::Store::open(&db.url, miaodan_store::Durability::PowerLossSafe));
    for opened in futures::future::join_all(opening).await {
        opened.expect("opens beside the others");
    }
    assert_eq!(db.schema_version().await, current_version());
}
