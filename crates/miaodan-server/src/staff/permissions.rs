//! Who may do what through a console session: every `/v1` route (method and matched route
//! template) maps to one [`Permission`], and each role to the permissions it holds. This is the
//! one place the table lives; a route it does not list is refused to every session (fail
//! closed), and a test walks every route of the API (in `http::session_gate`) so that none is
//! forgotten.
//!
//! A permission only lets a session reach a handler: the handler still applies the tenancy
//! rules of the principal the session stands for (a shop's member is that shop's merchant), so
//! a permission never widens what the merchant token of the same shop could do.
//!
//! API tokens are not subject to this table: they keep their own rules (`crate::auth`).

use miaodan_domain::staff::StaffRole;

/// What a route needs of a session's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    /// Reading the shop: orders, products, stock, compass, flash sales, alerts, after-sales.
    Read,
    /// A session's own sign-in: reading it and signing out.
    OwnSession,
    /// Products and SKUs.
    Catalog,
    /// Stock levels and shortages.
    Stock,
    /// Warehouses and their fulfillment settings (shifts, capacity, cutoffs).
    Warehouses,
    /// Creating flash sales.
    FlashSales,
    /// Shipping orders.
    OrderHandling,
    /// The package center's SLA rules and alerts.
    PackageCenter,
    /// Deciding after-sales requests (an address change is one) and the after-sales policy.
    AfterSales,
    /// Refunding orders.
    Refunds,
    /// Payments and reconciliation.
    Payments,
    /// Running compass diagnoses.
    Diagnosis,
    /// Appealing the shop's penalties.
    Appeals,
    /// Staff accounts.
    ManageStaff,
    /// Other members' sessions.
    ManageSessions,
    /// API tokens.
    ManageTokens,
    /// Webhook endpoints and deliveries.
    ManageWebhooks,
    /// Reading the audit log.
    ReadAudit,
    /// What only the platform does: shops, buyers, reconciliation across shops.
    Platform,
    /// What a buyer does (checkouts, taps, payments, opening after-sales): no staff role.
    Buying,
    /// Routes that know their caller by other means than a session (a signature, nothing):
    /// a session cookie is ignored there.
    NotForSessions,
}

impl Permission {
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Read => "read",
            Permission::OwnSession => "own_session",
            Permission::Catalog => "catalog",
            Permission::Stock => "stock",
            Permission::Warehouses => "warehouses",
            Permission::FlashSales => "flash_sales",
            Permission::OrderHandling => "order_handling",
            Permission::PackageCenter => "package_center",
            Permission::AfterSales => "after_sales",
            Permission::Refunds => "refunds",
            Permission::Payments => "payments",
            Permission::Diagnosis => "diagnosis",
            Permission::Appeals => "appeals",
            Permission::ManageStaff => "manage_staff",
            Permission::ManageSessions => "manage_sessions",
            Permission::ManageTokens => "manage_tokens",
            Permission::ManageWebhooks => "manage_webhooks",
            Permission::ReadAudit => "read_audit",
            Permission::Platform => "platform",
            Permission::Buying => "buying",
            Permission::NotForSessions => "not_for_sessions",
        }
    }

    /// Whether management with an API token of this permission's routes is audited too (the
    /// gate asks only of staff, sessions, penalties and deposits: among those, the platform's
    /// penalties and deposit entries and a merchant's appeals are).
    pub fn audited_for_tokens(self) -> bool {
        matches!(
            self,
            Permission::ManageStaff | Permission::ManageSessions | Permission::Platform | Permission::Appeals
        )
    }
}

/// The permission a route needs; `None` for a route this table does not know (refused).
pub fn permission(method: &str, route: &str) -> Option<Permission> {
    use Permission::*;
    let read = method == "GET" || method == "HEAD";
    let by_route = match route {
        "/v1/sessions/current" => OwnSession,
        "/v1/sessions" if method == "POST" => NotForSessions,
        "/v1/sessions" | "/v1/sessions/{session_id}" => ManageSessions,
        "/v1/staff" | "/v1/staff/{staff_id}" => ManageStaff,
        "/v1/audit-log" => ReadAudit,
        "/v1/tokens" | "/v1/tokens/{token_id}" => ManageTokens,
        "/v1/shops/{shop_id}/tokens" => ManageTokens,
        "/v1/buyers/{buyer_id}/tokens" | "/v1/edge-tokens" => Platform,
        // An edge gateway's token only: no person taps for many buyers.
        "/v1/flash-sales/{flash_sale_id}/taps/batch" => NotForSessions,
        route if route.starts_with("/v1/webhook-endpoints") => ManageWebhooks,
        "/v1/webhooks/simpay" | "/v1/webhooks/carriers" | "/v1/delivery-options" => NotForSessions,
        "/v1/reconciliation" => Payments,
        "/v1/quality-index/ranking" | "/v1/cluster" => Platform,
        "/v1/risk/rules" | "/v1/risk/decisions" | "/v1/risk/decisions/{decision_id}/review" => Platform,
        "/v1/risk/buyers/{buyer_id}" => Platform,
        // A challenge is a buyer's to answer, never a shop's staff's.
        "/v1/risk/challenges/{challenge_id}" | "/v1/risk/challenges/{challenge_id}/answer" => NotForSessions,
        "/v1/penalties" | "/v1/penalties/{penalty_id}/decision" | "/v1/deposits/{shop_id}/entries" if !read => Platform,
        "/v1/penalties/{penalty_id}/appeal" => Appeals,
        "/v1/refunds" => Payments,
        // A buyer's conversations with the assistant; the shop's people read those handed to it
        // and answer them as customer service.
        "/v1/assistant/conversations" | "/v1/assistant/conversations/{conversation_id}/messages" => Buying,
        "/v1/assistant/conversations/{conversation_id}" | "/v1/assistant/handovers" if read => Read,
        "/v1/assistant/conversations/{conversation_id}/replies" => AfterSales,
        "/v1/payment-intents" | "/v1/payment-intents/{payment_intent_id}" if read => Payments,
        _ if read => return known_read(route).then_some(Read),
        _ => return mutation(method, route),
    };
    Some(by_route)
}

/// The routes everyone signed in may read.
fn known_read(route: &str) -> bool {
    const READS: &[&str] = &[
        "/v1/after-sales",
        "/v1/after-sales/policy",
        "/v1/after-sales/{request_id}",
        "/v1/buyers/{buyer_id}",
        "/v1/compass/after-sales",
        "/v1/compass/diagnosis",
        "/v1/compass/diagnosis/{report_id}",
        "/v1/compass/diagnosis/{report_id}/report.html",
        "/v1/compass/fulfillment",
        "/v1/compass/regions",
        "/v1/compass/series",
        "/v1/compass/skus",
        "/v1/compass/stream",
        "/v1/events",
        "/v1/flash-sales",
        "/v1/flash-sales/{flash_sale_id}",
        "/v1/flash-sales/{flash_sale_id}/live",
        "/v1/flash-sales/{flash_sale_id}/live/stream",
        "/v1/flash-sales/{flash_sale_id}/risk",
        "/v1/idempotency-keys/{key}",
        "/v1/one-tap-agreements",
        "/v1/orders",
        "/v1/orders/{order_id}",
        "/v1/orders/{order_id}/dispatch",
        "/v1/orders/{order_id}/refunds",
        "/v1/orders/{order_id}/shipments",
        "/v1/package-center/alerts",
        "/v1/package-center/alerts/stream",
        "/v1/package-center/sla-rules",
        "/v1/products",
        "/v1/products/{product_id}",
        "/v1/quality-index",
        "/v1/penalties",
        "/v1/penalties/{penalty_id}",
        "/v1/deposit",
        "/v1/integrity/fake-stock",
        "/v1/integrity/promises",
        "/v1/shipments/{shipment_id}",
        "/v1/orders/export.csv",
        "/v1/shops",
        "/v1/shops/{shop_id}",
        "/v1/skus/{sku_id}/stock",
        "/v1/warehouses",
        "/v1/warehouses/{warehouse_id}/fulfillment",
    ];
    READS.contains(&route)
}

/// The permission of a mutating route (outside staff, sessions, tokens and webhooks).
fn mutation(method: &str, route: &str) -> Option<Permission> {
    use Permission::*;
    let permission = match (method, route) {
        ("POST", "/v1/products") | ("PATCH", "/v1/products/{product_id}") => Catalog,
        ("POST", "/v1/products/{product_id}/skus") | ("PATCH", "/v1/skus/{sku_id}") => Catalog,
        ("PUT", "/v1/skus/{sku_id}/stock/{warehouse_id}") => Stock,
        ("POST", "/v1/warehouses/{warehouse_id}/shortages") => Stock,
        ("POST", "/v1/warehouses") | ("PUT", "/v1/warehouses/{warehouse_id}/fulfillment") => Warehouses,
        ("POST", "/v1/flash-sales") => FlashSales,
        ("POST", "/v1/flash-sales/{flash_sale_id}/end" | "/v1/flash-sales/{flash_sale_id}/top-up") => FlashSales,
        ("PUT", "/v1/flash-sales/{flash_sale_id}/risk-mode") => FlashSales,
        ("POST", "/v1/orders/{order_id}/shipments" | "/v1/shipments/bulk") => OrderHandling,
        ("PUT", "/v1/package-center/sla-rules") => PackageCenter,
        (
            "POST",
            "/v1/package-center/alerts/{alert_id}/acknowledge" | "/v1/package-center/alerts/{alert_id}/assign",
        ) => PackageCenter,
        ("POST", "/v1/package-center/alerts/{alert_id}/notes" | "/v1/package-center/alerts/{alert_id}/resolve") => {
            PackageCenter
        }
        ("PUT", "/v1/after-sales/policy") => AfterSales,
        ("POST", "/v1/after-sales/{request_id}/approve" | "/v1/after-sales/{request_id}/refuse") => AfterSales,
        ("POST", "/v1/after-sales/{request_id}/decide" | "/v1/after-sales/{request_id}/receive") => AfterSales,
        ("POST", "/v1/orders/{order_id}/refunds") => Refunds,
        ("POST", "/v1/compass/diagnosis") => Diagnosis,
        ("POST", "/v1/shops") | ("PATCH", "/v1/shops/{shop_id}") | ("POST", "/v1/buyers") => Platform,
        ("POST", "/v1/checkouts" | "/v1/flash-sales/{flash_sale_id}/taps" | "/v1/payment-intents") => Buying,
        // An unpaid order (a paid one is cancelled through after-sales).
        ("POST", "/v1/orders/{order_id}/cancel") => OrderHandling,
        ("POST", "/v1/payment-intents/{payment_intent_id}/confirm" | "/v1/one-tap-agreements") => Buying,
        ("DELETE", "/v1/one-tap-agreements/{agreement_id}") => Buying,
        ("POST", "/v1/after-sales" | "/v1/after-sales/{request_id}/appeal") => Buying,
        ("POST", "/v1/after-sales/{request_id}/withdraw" | "/v1/after-sales/{request_id}/return-parcel") => Buying,
        _ => return None,
    };
    Some(permission)
}

/// Whether `role` holds `permission`.
pub fn allows(role: StaffRole, permission: Permission) -> bool {
    use Permission::*;
    match permission {
        Read | OwnSession => true,
        NotForSessions => false,
        _ => match role {
            StaffRole::PlatformAdmin => permission != Buying,
            StaffRole::Owner => !matches!(permission, Platform | Buying),
            StaffRole::Operator => matches!(
                permission,
                Catalog | Stock | Warehouses | FlashSales | OrderHandling | PackageCenter | Diagnosis
            ),
            StaffRole::CustomerService => matches!(permission, AfterSales | PackageCenter),
            StaffRole::Finance => matches!(permission, Refunds | Payments),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Permission::*;

    #[test]
    fn an_unknown_route_needs_a_permission_no_role_holds() {
        assert_eq!(permission("POST", "/v1/unknown"), None);
        assert_eq!(permission("GET", "/v1/unknown"), None);
    }

    #[test]
    fn each_role_holds_its_permissions() {
        use StaffRole::*;
        // (role, permission, allowed)
        let cases = [
            (Owner, ManageStaff, true),
            (Owner, ReadAudit, true),
            (Owner, ManageTokens, true),
            (Owner, Refunds, true),
            (Owner, Platform, false),
            (Owner, Appeals, true),
            (Operator, Appeals, false),
            (Operator, Catalog, true),
            (Operator, OrderHandling, true),
            (Operator, Refunds, false),
            (Operator, ManageStaff, false),
            (CustomerService, AfterSales, true),
            (CustomerService, OrderHandling, false),
            (CustomerService, Catalog, false),
            (Finance, Refunds, true),
            (Finance, Payments, true),
            (Finance, Catalog, false),
            (Finance, ReadAudit, false),
            (PlatformAdmin, Platform, true),
            (PlatformAdmin, ManageStaff, true),
            (PlatformAdmin, Buying, false),
        ];
        for (role, permission, allowed) in cases {
            assert_eq!(allows(role, permission), allowed, "{role:?} {permission:?}");
        }
        for role in StaffRole::ALL {
            assert!(allows(role, Read) && allows(role, OwnSession), "{role:?}");
            assert!(!allows(role, NotForSessions), "{role:?}");
        }
    }
}
