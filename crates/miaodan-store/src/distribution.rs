//! Where each table would live on a distributed PostgreSQL such as Citus: copied to every node
//! (a reference table), or spread over the nodes by the hash of one column (a distributed
//! table). Written down per table so that the schema stays distributable: a test reads the
//! database's own catalog and checks every table against the rules such an engine sets, and a
//! new table must be placed here before that test passes.
//!
//! The rules (Citus's, the strictest of the PostgreSQL-compatible engines that spread a table
//! by a column): a distributed table's column is never null, its primary key and every unique
//! index include the column (a node can only check uniqueness among its own rows), and no
//! table has a foreign key (none has one today; Citus would allow few of them).
//!
//! Shop data is spread by `shop_id`, so one shop's rows are together and a shop's reads stay on
//! one node; the tables that belong to no shop are spread by their own key, or copied.
//! [`WIDENING_PENDING`] lists the tables whose keys do not follow the rules yet: the work left
//! before `citus_statements` may be run on a live database.

/// How one table is placed over a distributed database's nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// Copied whole to every node: small and read everywhere. A write goes to every node (in
    /// two phases), so the ones written often (leases renewed, members' heartbeats, a token's
    /// last use) cost that on each write.
    Reference,
    /// Spread by the hash of `column`; every table of one `group` keeps equal values of its
    /// column on the same node, so joins and transactions within a group stay on one node.
    By { column: &'static str, group: Group },
}

/// A colocation group: tables whose distribution columns hold the same kind of value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    /// A shop's id: the shop's catalog, stock, orders, parcels, after-sales and figures.
    Shop,
    /// One of miaodan's shards: the outbox, read shard by shard, and its readers' cursors.
    Shard,
    /// A checkout's id: the payment taken for it, which may pay several shops' orders.
    Checkout,
    /// A buyer's id: what belongs to the buyer across shops.
    Buyer,
    /// A conversation with the assistant and its messages.
    Conversation,
    /// A stored answer to a keyed request, found by its id.
    StoredResponse,
    /// A provider's notification, found by the provider's event id.
    ProviderEvent,
    /// A line of the staff's audit log.
    Audit,
    /// A payment intent's id: its refunds. (The intents themselves are spread by checkout, which
    /// their unique index of one intent per checkout needs, so the two are read together across
    /// nodes.)
    PaymentIntent,
    /// A SKU's id.
    Sku,
    /// A parcel's id.
    Shipment,
    /// An after-sales request's id.
    AfterSalesRequest,
    /// A webhook delivery's id.
    WebhookDelivery,
}

const fn by(column: &'static str, group: Group) -> Placement {
    Placement::By { column, group }
}

const SHOP: Placement = by("shop_id", Group::Shop);

/// Every table of the schema, with its placement.
pub const TABLES: &[(&str, Placement)] = &[
    // Platform-wide and small: copied to every node.
    ("schema_version", Placement::Reference),
    ("shops", Placement::Reference),
    ("buyers", Placement::Reference),
    ("api_tokens", Placement::Reference),
    ("token_revocation_counter", Placement::Reference),
    ("id_blocks", Placement::Reference),
    ("cluster_members", Placement::Reference),
    ("cluster_secret", Placement::Reference),
    ("shard_leases", Placement::Reference),
    ("risk_rule_sets", Placement::Reference),
    // Staff log in by a login unique across shops, and a session is found by its secret alone.
    ("staff_members", Placement::Reference),
    ("staff_sessions", Placement::Reference),
    // Read by every shard's fan-out of events.
    ("webhook_endpoints", Placement::Reference),
    // A shop's own rows.
    ("orders", SHOP),
    ("order_lines", SHOP),
    ("order_dispatches", SHOP),
    ("products", SHOP),
    ("skus", SHOP),
    ("warehouses", SHOP),
    ("stock", SHOP),
    ("stock_movements", SHOP),
    ("warehouse_fulfillment", SHOP),
    ("warehouse_capacity", SHOP),
    ("flash_sales", SHOP),
    ("shipments", SHOP),
    ("package_alerts", SHOP),
    ("shortage_notices", SHOP),
    ("sla_rules", SHOP),
    ("after_sales_requests", SHOP),
    ("after_sales_policies", SHOP),
    ("after_sales_return_waybills", SHOP),
    ("deposit_entries", SHOP),
    ("penalties", SHOP),
    ("risk_decisions", SHOP),
    ("risk_strict_sales", SHOP),
    ("diagnosis_reports", SHOP),
    ("webhook_deliveries", SHOP),
    ("compass_after_sales", SHOP),
    ("compass_carriers", SHOP),
    ("compass_flash_sale_minutes", SHOP),
    ("compass_flash_sale_provinces", SHOP),
    ("compass_flash_sales", SHOP),
    ("compass_hours", SHOP),
    ("compass_minutes", SHOP),
    ("compass_regions", SHOP),
    ("compass_skus", SHOP),
    ("compass_warehouses", SHOP),
    // Rows that belong to no one shop.
    ("outbox_packs", by("shard", Group::Shard)),
    ("outbox_cursors", by("shard", Group::Shard)),
    ("payment_intents", by("checkout_id", Group::Checkout)),
    ("refunds", by("intent_id", Group::PaymentIntent)),
    ("provider_notifications", by("event_id", Group::ProviderEvent)),
    ("one_tap_agreements", by("buyer_id", Group::Buyer)),
    ("risk_challenges", by("buyer_id", Group::Buyer)),
    ("assistant_conversations", by("id", Group::Conversation)),
    ("assistant_messages", by("conversation_id", Group::Conversation)),
    ("idempotency_responses", by("id", Group::StoredResponse)),
    // Read alone, by the id of what they hold: the compass reader's memory of the objects whose
    // changes it folds (a stock row, a parcel, an after-sales request), and a delivery's
    // attempts.
    ("compass_stock_rows", by("sku", Group::Sku)),
    ("compass_shipments", by("shipment", Group::Shipment)),
    ("compass_requests", by("request", Group::AfterSalesRequest)),
    ("webhook_attempts", by("delivery_id", Group::WebhookDelivery)),
    ("audit_log", by("id", Group::Audit)),
];

/// Tables whose keys do not follow the rules yet (see the module's text): none since
/// migration 0031. The schema test fails when a table breaks the rules without being listed
/// here, and when a listed one already follows them, so this list only shrinks.
pub const WIDENING_PENDING: &[&str] = &[];

/// The statements that place every table on a Citus cluster, in an order Citus accepts (the
/// first table of a group is made before those colocated with it). Only for a database whose
/// tables all follow the rules: [`WIDENING_PENDING`] is empty.
pub fn citus_statements() -> Vec<String> {
    let mut statements = vec!["CREATE EXTENSION IF NOT EXISTS citus".to_string()];
    let mut first_of_group: Vec<(Group, &str)> = Vec::new();
    for (table, placement) in TABLES {
        statements.push(match placement {
            Placement::Reference => format!("SELECT create_reference_table('{table}')"),
            Placement::By { column, group } => match first_of_group.iter().find(|(g, _)| g == group) {
                Some((_, first)) => {
                    format!("SELECT create_distributed_table('{table}', '{column}', colocate_with => '{first}')")
                }
                None => {
                    first_of_group.push((*group, table));
                    format!("SELECT create_distributed_table('{table}', '{column}', colocate_with => 'none')")
                }
            },
        });
    }
    statements
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_table_is_placed_once() {
        let mut names: Vec<&str> = TABLES.iter().map(|(table, _)| *table).collect();
        names.sort_unstable();
        let count = names.len();
        names.dedup();
        assert_eq!(names.len(), count, "a table is placed twice");
        for pending in WIDENING_PENDING {
            assert!(names.contains(pending), "{pending} is pending but not placed");
        }
    }

    #[test]
    fn a_group_starts_on_its_own_and_the_rest_of_it_joins_its_first_table() {
        let statements = citus_statements();
        let orders = statements
            .iter()
            .position(|s| s.contains("('orders', 'shop_id', colocate_with => 'none')"));
        let lines = statements
            .iter()
            .position(|s| s.contains("('order_lines', 'shop_id', colocate_with => 'orders')"));
        assert!(
            matches!((orders, lines), (Some(o), Some(l)) if o < l),
            "{statements:#?}"
        );
        let messages = "('assistant_messages', 'conversation_id', colocate_with => 'assistant_conversations')";
        assert!(statements.iter().any(|s| s.contains(messages)), "{statements:#?}");
        assert!(statements.contains(&"SELECT create_reference_table('shops')".to_string()));
        assert_eq!(statements.len(), TABLES.len() + 1);
    }
}
