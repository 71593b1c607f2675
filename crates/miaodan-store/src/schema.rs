//! The schema, written once for both backends: only types and clauses that SQLite and
//! PostgreSQL read alike (BIGINT, TEXT, BOOLEAN, partial indexes, `ON CONFLICT`).
//!
//! Two spellings differ and are filled in per backend by [`for_backend`]: `{ID}` (SQLite's
//! `INTEGER PRIMARY KEY` is the table's rowid itself, saving a second B-tree per insert;
//! PostgreSQL's 64-bit integer is `BIGINT`) and `{WITHOUT_ROWID}` (SQLite stores a table with a
//! composite key as that key's B-tree alone).
//!
//! Times are unix epoch milliseconds (UTC); money is integer fen; adcodes are their 12-digit
//! integer. The `CHECK` constraints repeat the core's stock invariant at the disk boundary.

pub const SCHEMA_VERSION: i64 = 3;

/// What turns a database of an older version into the current one, per version reached.
/// New tables need nothing here: `CREATE TABLE IF NOT EXISTS` adds them.
pub const MIGRATIONS: &[(i64, &[&str])] = &[
    (2, &["ALTER TABLE orders ADD COLUMN paid_by_intent_id BIGINT"]),
    (3, &["ALTER TABLE orders ADD COLUMN promise_json TEXT"]),
];

pub const STATEMENTS: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS shops (
        id {ID} PRIMARY KEY,
        name TEXT NOT NULL,
        created_at BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS warehouses (
        id {ID} PRIMARY KEY,
        shop_id BIGINT NOT NULL,
        name TEXT NOT NULL,
        adcode BIGINT NOT NULL,
        created_at BIGINT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS warehouses_by_shop ON warehouses (shop_id, id)",
    "CREATE TABLE IF NOT EXISTS products (
        id {ID} PRIMARY KEY,
        shop_id BIGINT NOT NULL,
        title TEXT NOT NULL,
        description TEXT,
        gtin TEXT,
        status TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS products_by_shop ON products (shop_id, id)",
    "CREATE INDEX IF NOT EXISTS products_by_gtin ON products (gtin) WHERE gtin IS NOT NULL",
    "CREATE TABLE IF NOT EXISTS skus (
        id {ID} PRIMARY KEY,
        product_id BIGINT NOT NULL,
        shop_id BIGINT NOT NULL,
        name TEXT NOT NULL,
        price_fen BIGINT NOT NULL CHECK (price_fen >= 0),
        status TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS skus_by_product ON skus (product_id, id)",
    "CREATE TABLE IF NOT EXISTS stock (
        sku_id BIGINT NOT NULL,
        warehouse_id BIGINT NOT NULL,
        shop_id BIGINT NOT NULL,
        available BIGINT NOT NULL CHECK (available >= 0),
        reserved BIGINT NOT NULL CHECK (reserved >= 0),
        sold BIGINT NOT NULL CHECK (sold >= 0),
        PRIMARY KEY (sku_id, warehouse_id)) {WITHOUT_ROWID}",
    "CREATE INDEX IF NOT EXISTS stock_by_shop ON stock (shop_id)",
    "CREATE TABLE IF NOT EXISTS buyers (
        id {ID} PRIMARY KEY,
        name TEXT NOT NULL,
        default_adcode BIGINT,
        default_address_detail TEXT,
        created_at BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS orders (
        id {ID} PRIMARY KEY,
        checkout_id BIGINT NOT NULL,
        shop_id BIGINT NOT NULL,
        buyer_id BIGINT NOT NULL,
        state TEXT NOT NULL,
        version BIGINT NOT NULL,
        total_fen BIGINT NOT NULL CHECK (total_fen >= 0),
        adcode BIGINT NOT NULL,
        address_detail TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        payment_due_at BIGINT NOT NULL,
        paid_at BIGINT,
        cancelled_at BIGINT,
        cancel_reason TEXT,
        request_ref TEXT,
        flash_sale_id BIGINT,
        paid_by_intent_id BIGINT,
        promise_json TEXT)",
    "CREATE INDEX IF NOT EXISTS orders_by_shop ON orders (shop_id, created_at, id)",
    "CREATE INDEX IF NOT EXISTS orders_by_buyer ON orders (buyer_id, created_at, id)",
    "CREATE INDEX IF NOT EXISTS orders_open ON orders (shop_id) WHERE state = 'pending_payment'",
    // A starting shard reloads the orders on their way (paid or shipped, not yet delivered).
    "CREATE INDEX IF NOT EXISTS orders_fulfilling ON orders (shop_id) WHERE state IN ('paid', 'shipped')",
    // Opening a checkout's payment reads its orders; checkout ids grow, so this index appends.
    "CREATE INDEX IF NOT EXISTS orders_by_checkout ON orders (checkout_id, id)",
    // Keyed by (sale, id), not (sale, buyer): ids grow, so a hot sale's orders append to the
    // index instead of dirtying a random page per order; start-up sums per buyer over a scan.
    "CREATE INDEX IF NOT EXISTS orders_by_flash_sale ON orders (flash_sale_id, id) WHERE flash_sale_id IS NOT NULL",
    "CREATE TABLE IF NOT EXISTS flash_sales (
        id {ID} PRIMARY KEY,
        shop_id BIGINT NOT NULL,
        sku_id BIGINT NOT NULL,
        warehouse_id BIGINT NOT NULL,
        starts_at BIGINT NOT NULL,
        ends_at BIGINT NOT NULL,
        price_fen BIGINT NOT NULL CHECK (price_fen >= 0),
        allotted BIGINT NOT NULL CHECK (allotted > 0),
        remaining BIGINT NOT NULL CHECK (remaining >= 0 AND remaining <= allotted),
        per_buyer_limit BIGINT NOT NULL CHECK (per_buyer_limit > 0),
        payment_timeout_seconds BIGINT NOT NULL,
        closed BIGINT NOT NULL,
        created_at BIGINT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS flash_sales_by_shop ON flash_sales (shop_id, id)",
    // No index on request_ref: a hashed reference lands on a random index page, and a batch of
    // thousands of orders would then write thousands of pages. The shard (the only writer)
    // deduplicates references in memory and rebuilds that map at start with one scan.
    // `allocations` is `warehouse:units` pairs separated by `;`: where the line's units are
    // reserved or sold. A line has a handful at most, and it is always read with its line.
    "CREATE TABLE IF NOT EXISTS order_lines (
        order_id BIGINT NOT NULL,
        line_no BIGINT NOT NULL,
        sku_id BIGINT NOT NULL,
        quantity BIGINT NOT NULL CHECK (quantity > 0),
        unit_price_fen BIGINT NOT NULL CHECK (unit_price_fen >= 0),
        allocations TEXT NOT NULL,
        PRIMARY KEY (order_id, line_no)) {WITHOUT_ROWID}",
    "CREATE TABLE IF NOT EXISTS api_tokens (
        id {ID} PRIMARY KEY,
        role TEXT NOT NULL,
        subject_id BIGINT,
        secret_sha256 TEXT NOT NULL,
        label TEXT,
        created_at BIGINT NOT NULL,
        revoked_at BIGINT)",
    // Stored responses are appended in id order and found by id: the server keeps a map from
    // a 128-bit fingerprint of (scope, key) to the id. An index on the caller's random key
    // would dirty a random page per response and dominate the cost of a batch.
    "CREATE TABLE IF NOT EXISTS idempotency_responses (
        id {ID} PRIMARY KEY,
        scope TEXT NOT NULL,
        idempotency_key TEXT NOT NULL,
        request_sha256 TEXT NOT NULL,
        status BIGINT NOT NULL,
        body TEXT NOT NULL,
        created_at BIGINT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS idempotency_responses_by_age ON idempotency_responses (created_at)",
    // One intent per checkout. `orders` is `order:shop:amount:settlement` entries separated by
    // `;` (a checkout has a few shops), read and written with its intent. `settled` is 0 while
    // money may still move by itself (an unknown outcome, an order to settle, a refund to confirm).
    "CREATE TABLE IF NOT EXISTS payment_intents (
        id {ID} PRIMARY KEY,
        checkout_id BIGINT NOT NULL,
        buyer_id BIGINT NOT NULL,
        home_shop_id BIGINT NOT NULL,
        amount_fen BIGINT NOT NULL CHECK (amount_fen >= 0),
        orders TEXT NOT NULL,
        status TEXT NOT NULL,
        attempts BIGINT NOT NULL,
        one_tap BIGINT NOT NULL,
        charge_reference TEXT,
        provider_charge_id TEXT,
        authorized_fen BIGINT,
        captured_fen BIGINT CHECK (captured_fen <= authorized_fen AND authorized_fen <= amount_fen),
        authorized_at BIGINT,
        captured_at BIGINT,
        decline_code TEXT,
        settled BIGINT NOT NULL,
        pay_by BIGINT NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        version BIGINT NOT NULL)",
    "CREATE UNIQUE INDEX IF NOT EXISTS payment_intents_by_checkout ON payment_intents (checkout_id)",
    "CREATE INDEX IF NOT EXISTS payment_intents_unsettled ON payment_intents (home_shop_id) WHERE settled = 0",
    "CREATE INDEX IF NOT EXISTS payment_intents_by_capture ON payment_intents (captured_at) WHERE captured_at IS NOT NULL",
    "CREATE TABLE IF NOT EXISTS refunds (
        id {ID} PRIMARY KEY,
        intent_id BIGINT NOT NULL,
        order_id BIGINT NOT NULL,
        amount_fen BIGINT NOT NULL CHECK (amount_fen > 0),
        reason TEXT NOT NULL,
        status TEXT NOT NULL,
        provider_refund_id TEXT,
        failure TEXT,
        request_ref TEXT,
        created_at BIGINT NOT NULL,
        settled_at BIGINT)",
    "CREATE INDEX IF NOT EXISTS refunds_by_intent ON refunds (intent_id, id)",
    "CREATE INDEX IF NOT EXISTS refunds_by_order ON refunds (order_id, id)",
    "CREATE TABLE IF NOT EXISTS one_tap_agreements (
        id {ID} PRIMARY KEY,
        buyer_id BIGINT NOT NULL,
        provider TEXT NOT NULL,
        credential TEXT NOT NULL,
        per_order_limit_fen BIGINT NOT NULL CHECK (per_order_limit_fen > 0),
        per_day_limit_fen BIGINT NOT NULL CHECK (per_day_limit_fen >= per_order_limit_fen),
        created_at BIGINT NOT NULL,
        revoked_at BIGINT)",
    "CREATE INDEX IF NOT EXISTS one_tap_agreements_by_buyer ON one_tap_agreements (buyer_id, id)",
    // Every notification a provider sent, with what it did: nothing is ignored silently.
    "CREATE TABLE IF NOT EXISTS provider_notifications (
        id {ID} PRIMARY KEY,
        provider TEXT NOT NULL,
        event_id TEXT NOT NULL,
        event_type TEXT NOT NULL,
        reference TEXT NOT NULL,
        received_at BIGINT NOT NULL,
        outcome TEXT NOT NULL)",
    "CREATE UNIQUE INDEX IF NOT EXISTS provider_notifications_by_event ON provider_notifications (provider, event_id)",
    // How a merchant configured a warehouse to work (hours, capacity, cutoffs, carriers), as
    // the domain's `FulfillmentSettings` in JSON: read whole, written whole, never queried into.
    // A warehouse without a row runs the standard settings.
    "CREATE TABLE IF NOT EXISTS warehouse_fulfillment (
        warehouse_id {ID} PRIMARY KEY,
        shop_id BIGINT NOT NULL,
        settings_json TEXT NOT NULL)",
    // The latest dispatch decision of each paid order (a re-dispatch replaces it), as the
    // domain's `DispatchDecision` in JSON: which warehouses ship which units, and why.
    "CREATE TABLE IF NOT EXISTS order_dispatches (
        order_id {ID} PRIMARY KEY,
        shop_id BIGINT NOT NULL,
        decided_at BIGINT NOT NULL,
        decision_json TEXT NOT NULL)",
    // Orders booked in a warehouse's processing hour (`hour_ms` is the hour's first
    // millisecond). A start-up reads the hours from today on, hence the index by hour.
    "CREATE TABLE IF NOT EXISTS warehouse_capacity (
        warehouse_id BIGINT NOT NULL,
        hour_ms BIGINT NOT NULL,
        orders BIGINT NOT NULL CHECK (orders >= 0),
        PRIMARY KEY (warehouse_id, hour_ms)) {WITHOUT_ROWID}",
    "CREATE INDEX IF NOT EXISTS warehouse_capacity_by_hour ON warehouse_capacity (hour_ms)",
];

/// The statements with the backend's spellings filled in.
pub fn for_backend(sqlite: bool) -> Vec<String> {
    let (id, without_rowid) = if sqlite {
        ("INTEGER", "WITHOUT ROWID")
    } else {
        ("BIGINT", "")
    };
    STATEMENTS
        .iter()
        .chain(crate::logistics::STATEMENTS)
        .map(|ddl| ddl.replace("{ID}", id).replace("{WITHOUT_ROWID}", without_rowid))
        .collect()
}
