//! The demo world of `miaodan serve --demo`: three live-commerce shops with warehouses in real
//! cities, 50 products with SKUs and stock, and six buyers (see `world.json`). It is loaded
//! through the same commands the API sends, once, into an empty database, with a token for
//! each role to try it with (the admin's is the first start's). A later start with `--demo`
//! keeps the tokens it made while they are active (their secrets were printed once and are
//! stored nowhere) and makes a new one only for a role whose demo token expired or was revoked.

mod after_sales;

use crate::app::{AppState, BOOTSTRAP_LABEL};
use crate::tokens::{TokenRequest, TokenState};
use miaodan_domain::after_sales::policy::ExemptGoods;
use miaodan_domain::buyers::Buyer;
use miaodan_domain::catalog::{Gtin, NewSku, ShopCategory, Text};
use miaodan_domain::fulfillment::{CutoffRegion, CutoffTime, FulfillmentSettings, OperatingHours, ServiceLevel};
use miaodan_domain::geo::Adcode;
use miaodan_domain::logistics::SlaRules;
use miaodan_domain::orders::Address;
use miaodan_domain::shard::{Command, Outcome};
use miaodan_domain::shard::{ConfigureFulfillment, CreateProduct, CreateShop, CreateWarehouse, SetSlaRules, SetStock};
use miaodan_domain::staff::{Login, StaffRole};
use miaodan_domain::{Fen, ShopId, Timestamp};
use miaodan_store::StaffMember;
use miaodan_store::records::{Role, TokenFilter};
use serde::Deserialize;

const WORLD_JSON: &str = include_str!("world.json");

#[derive(Deserialize)]
struct World {
    shops: Vec<ShopSpec>,
    buyers: Vec<BuyerSpec>,
}

#[derive(Deserialize)]
struct ShopSpec {
    name: String,
    /// One of `ShopCategory::NAMES`.
    category: String,
    warehouses: Vec<WarehouseSpec>,
    products: Vec<ProductSpec>,
}

#[derive(Deserialize)]
struct WarehouseSpec {
    name: String,
    adcode: String,
}

#[derive(Deserialize)]
struct ProductSpec {
    title: String,
    description: String,
    gtin: Option<String>,
    /// The after-sales goods class (`perishable`, …); absent for ordinary goods.
    #[serde(default)]
    goods_class: Option<String>,
    skus: Vec<SkuSpec>,
}

impl ProductSpec {
    /// The product's GTIN and after-sales goods class, parsed.
    fn listing(&self) -> anyhow::Result<(Option<Gtin>, Option<ExemptGoods>)> {
        let gtin = match &self.gtin {
            Some(raw) => Some(Gtin::parse(raw).ok_or_else(|| anyhow::anyhow!("demo GTIN {raw}"))?),
            None => None,
        };
        let goods_class = match &self.goods_class {
            Some(raw) => Some(ExemptGoods::parse(raw).ok_or_else(|| anyhow::anyhow!("demo goods class {raw}"))?),
            None => None,
        };
        Ok((gtin, goods_class))
    }
}

#[derive(Deserialize)]
struct SkuSpec {
    name: String,
    price_fen: i64,
    stock: i64,
}

#[derive(Deserialize)]
struct BuyerSpec {
    name: String,
    address: AddressSpec,
}

#[derive(Deserialize)]
struct AddressSpec {
    adcode: String,
    detail: String,
}

/// The label of the tokens the demo makes.
pub const DEMO_LABEL: &str = "demo";

/// A demo token: made now (its secret shown this once), or made by an earlier start and
/// still active.
#[derive(Clone, Debug)]
pub enum DemoToken {
    Fresh(String),
    Kept { id: i64, expires_at: Timestamp },
}

/// What a person needs to try the demo: tokens of each role and a SKU to order.
pub struct DemoAccess {
    pub admin: DemoToken,
    /// The shop's id and name, and its merchant's token.
    pub merchant: (i64, String, DemoToken),
    /// The buyer's id and name, and the buyer's token.
    pub buyer: (i64, String, DemoToken),
    /// Where the demo buyer lives (for a delivery-options example).
    pub buyer_adcode: String,
    pub example_sku: i64,
    pub second_shop_sku: i64,
    /// The console's demo staff: (login, role), all with [`DEMO_STAFF_PASSWORD`].
    pub staff: Vec<(String, String)>,
}

/// The password of every demo staff account. Demo only: anyone who reads the README knows it.
pub const DEMO_STAFF_PASSWORD: &str = "miaodan-demo";

/// The demo shop's staff (one per role) and a platform admin: (login, role, of the shop).
const DEMO_STAFF: [(&str, StaffRole); 5] = [
    ("owner", StaffRole::Owner),
    ("operator", StaffRole::Operator),
    ("service", StaffRole::CustomerService),
    ("finance", StaffRole::Finance),
    ("admin", StaffRole::PlatformAdmin),
];

/// Makes the demo staff that do not exist yet (a later start keeps them, and their passwords).
async fn demo_staff(state: &AppState, shop: ShopId) -> anyhow::Result<Vec<(String, String)>> {
    let mut made = Vec::new();
    for (login, role) in DEMO_STAFF {
        if state.store.staff_member_by_login(login).await?.is_none() {
            let password_hash = crate::staff::off_thread(|| crate::staff::hash_password(DEMO_STAFF_PASSWORD)).await??;
            let member = StaffMember {
                id: state.ids.staff_member().await?,
                shop: (role != StaffRole::PlatformAdmin).then_some(shop),
                login: Login::parse(login).ok_or_else(|| anyhow::anyhow!("demo login {login}"))?,
                name: login.to_string(),
                role,
                password_hash,
                created_at: state.clock.now(),
                disabled_at: None,
            };
            state.store.insert_staff_member(&member, None).await?;
        }
        made.push((login.to_string(), role.as_str().to_string()));
    }
    Ok(made)
}

fn text<const MAX: usize>(raw: &str) -> anyhow::Result<Text<MAX>> {
    Text::parse(raw).map_err(|e| anyhow::anyhow!("demo text {raw:?}: {e:?}"))
}

fn adcode(raw: &str) -> anyhow::Result<Adcode> {
    Adcode::parse(raw).ok_or_else(|| anyhow::anyhow!("demo adcode {raw} is unknown"))
}

async fn submit(state: &AppState, shop: ShopId, command: Command) -> anyhow::Result<Outcome> {
    state.submit_accepted(shop, command).await
}

/// The shop of `spec`, with its name and category.
async fn create_shop(state: &AppState, spec: &ShopSpec) -> anyhow::Result<ShopId> {
    let shop = state.ids.shop().await?;
    let category = ShopCategory::parse(&spec.category)
        .ok_or_else(|| anyhow::anyhow!("demo shop category {} is unknown", spec.category))?;
    let name = text(&spec.name)?;
    submit(
        state,
        shop,
        Command::from(CreateShop {
            id: shop,
            name,
            category,
        }),
    )
    .await?;
    Ok(shop)
}

async fn load_shop(state: &AppState, spec: &ShopSpec) -> anyhow::Result<()> {
    let shop = create_shop(state, spec).await?;
    let mut warehouses = Vec::new();
    for w in &spec.warehouses {
        let id = state.ids.warehouse().await?;
        submit(
            state,
            shop,
            Command::from(CreateWarehouse {
                id,
                shop,
                name: text(&w.name)?,
                location: adcode(&w.adcode)?,
            }),
        )
        .await?;
        warehouses.push(id);
    }
    // The first warehouse of each shop is a front warehouse: around the clock, one-hour
    // delivery in its city until 22:00, same-day until 14:00; the others run the standard
    // day shift (08:00–22:00, same-day until 11:00, next-day until 16:00).
    if let Some(front) = warehouses.first() {
        let mut settings = FulfillmentSettings::standard();
        settings.hours = OperatingHours::around_the_clock();
        settings.orders_per_hour = 2_000;
        settings.orders_per_day = 40_000;
        settings.cutoffs = vec![
            CutoffTime {
                level: ServiceLevel::OneHour,
                region: CutoffRegion::SameCity,
                minute: 22 * 60,
            },
            CutoffTime {
                level: ServiceLevel::SameDay,
                region: CutoffRegion::SameCity,
                minute: 14 * 60,
            },
            CutoffTime {
                level: ServiceLevel::NextDay,
                region: CutoffRegion::Any,
                minute: 20 * 60,
            },
            CutoffTime {
                level: ServiceLevel::Standard,
                region: CutoffRegion::Any,
                minute: 21 * 60,
            },
        ];
        submit(
            state,
            shop,
            Command::from(ConfigureFulfillment {
                shop,
                warehouse: *front,
                settings,
            }),
        )
        .await?;
    }
    // The demo's parcels travel in minutes (see `CarriersConfig::demo`), so its package
    // center watches in minutes too: a stalled parcel is flagged within two minutes.
    submit(
        state,
        shop,
        Command::from(SetSlaRules {
            shop,
            rules: SlaRules {
                not_picked_up_within_s: 600,
                not_departed_within_s: 600,
                stalled_after_s: 120,
                warn_at_percent: 80,
            },
        }),
    )
    .await?;
    for p in &spec.products {
        let mut skus = Vec::new();
        for s in &p.skus {
            let price = Fen::price(s.price_fen).ok_or_else(|| anyhow::anyhow!("demo price {}", s.price_fen))?;
            skus.push(NewSku {
                id: state.ids.sku().await?,
                name: text(&s.name)?,
                price,
            });
        }
        let (gtin, goods_class) = p.listing()?;
        let command = Command::from(CreateProduct {
            id: state.ids.product().await?,
            shop,
            title: text(&p.title)?,
            description: Some(text(&p.description)?),
            gtin,
            goods_class,
            skus: skus.clone(),
        });
        submit(state, shop, command).await?;
        for (sku, s) in skus.iter().zip(&p.skus) {
            // Split the units over the warehouses, the first taking the remainder.
            let share = s.stock / warehouses.len() as i64;
            for (i, warehouse) in warehouses.iter().enumerate() {
                let available = if i == 0 {
                    s.stock - share * (warehouses.len() as i64 - 1)
                } else {
                    share
                };
                submit(
                    state,
                    shop,
                    Command::from(SetStock {
                        shop,
                        sku: sku.id,
                        warehouse: *warehouse,
                        available,
                    }),
                )
                .await?;
            }
        }
    }
    Ok(())
}

/// The demo token of a role (and its shop or buyer): one still active that the demo (or, for
/// the admin, the first start) made, or else a new one. `first_start` is the admin token this
/// start made, if it is the first.
async fn demo_token(
    state: &AppState,
    role: Role,
    subject: Option<i64>,
    first_start: Option<&String>,
) -> anyhow::Result<DemoToken> {
    if let Some(token) = first_start.filter(|_| role == Role::Admin) {
        return Ok(DemoToken::Fresh(token.clone()));
    }
    let filter = TokenFilter {
        role: Some(role),
        subject,
        before: None,
        limit: 100,
    };
    let now = state.clock.now();
    let kept = state.store.tokens(&filter).await?.into_iter().find(|t| {
        let made_here = matches!(t.label.as_deref(), Some(DEMO_LABEL | BOOTSTRAP_LABEL));
        made_here && TokenState::of(t, now) == TokenState::Active
    });
    if let Some(kept) = kept {
        return Ok(DemoToken::Kept {
            id: kept.id,
            expires_at: kept.expires_at,
        });
    }
    let (_, token) = state
        .issue_token(TokenRequest::new(role, subject).labelled(DEMO_LABEL))
        .await?;
    Ok(DemoToken::Fresh(token))
}

/// Where the after-sales stories happen: the demo buyer in the first shop, with a SKU under
/// ¥50 (not the README's example SKU) and one of ¥125 to ¥500 (four units are over the ceiling
/// the rules approve alone).
async fn after_sales_scene(
    state: &AppState,
    shop: ShopId,
    buyer: &Buyer,
    example_sku: i64,
) -> anyhow::Result<after_sales::Scene> {
    let filter = miaodan_store::records::ProductFilter {
        shop: Some(shop),
        active_only: true,
        limit: 200,
        ..Default::default()
    };
    let products = state.store.products(&filter).await?;
    let skus = || products.iter().flat_map(|(_, skus)| skus.iter());
    let cheap = skus().find(|s| s.price.get() <= 5_000 && s.id.get() != example_sku);
    let dear = skus().find(|s| (12_500..=50_000).contains(&s.price.get()));
    let (Some(cheap), Some(dear), Some(address)) = (cheap, dear, buyer.default_address.clone()) else {
        anyhow::bail!("shop {shop} has no SKU for the after-sales stories, or the demo buyer no address");
    };
    Ok(after_sales::Scene {
        buyer: buyer.id,
        address,
        shop,
        cheap: cheap.id,
        dear: dear.id,
    })
}

/// How long ago the demo buyers opened their accounts.
const DEMO_BUYERS_AGE_SECONDS: i64 = 365 * 24 * 3_600;

/// Loads the world into an empty database (does nothing if shops exist) and finds or makes
/// its tokens (see [`demo_token`]).
pub async fn prepare(state: &AppState, first_start: Option<&String>) -> anyhow::Result<DemoAccess> {
    let world: World = serde_json::from_str(WORLD_JSON)?;
    if state.store.shops().await?.is_empty() {
        tracing::info!("loading the demo world");
        for shop in &world.shops {
            load_shop(state, shop).await?;
        }
        for b in &world.buyers {
            let buyer = Buyer {
                id: state.ids.buyer().await?,
                name: text(&b.name)?,
                default_address: Some(Address {
                    adcode: adcode(&b.address.adcode)?,
                    detail: text(&b.address.detail)?,
                }),
                // The demo's buyers are regulars (their stories have orders): accounts opened a
                // year ago, as risk control sees them, not new ones.
                created_at: state.clock.now().plus_seconds(-DEMO_BUYERS_AGE_SECONDS),
            };
            state.store.insert_buyer(&buyer, None).await?;
        }
    }
    let shops = state.store.shops().await?;
    let buyers = state.store.buyers().await?;
    let (Some(shop), Some(other_shop), Some(buyer)) = (shops.first(), shops.get(1), buyers.first()) else {
        anyhow::bail!("the database holds fewer than two shops or no buyer; use an empty database for --demo");
    };
    let first_sku = |shop: ShopId| async move {
        let filter = miaodan_store::records::ProductFilter {
            shop: Some(shop),
            active_only: true,
            limit: 1,
            ..Default::default()
        };
        let products = state.store.products(&filter).await?;
        products
            .first()
            .and_then(|(_, skus)| skus.first())
            .map(|s| s.id.get())
            .ok_or_else(|| anyhow::anyhow!("shop {shop} has no active product"))
    };
    let example_sku = first_sku(shop.id).await?;
    let staff = demo_staff(state, shop.id).await?;
    after_sales::tell(state, &after_sales_scene(state, shop.id, buyer, example_sku).await?).await?;
    Ok(DemoAccess {
        admin: demo_token(state, Role::Admin, None, first_start).await?,
        merchant: (
            shop.id.get(),
            shop.name.as_str().into(),
            demo_token(state, Role::Merchant, Some(shop.id.get()), None).await?,
        ),
        buyer: (
            buyer.id.get(),
            buyer.name.as_str().into(),
            demo_token(state, Role::Buyer, Some(buyer.id.get()), None).await?,
        ),
        buyer_adcode: buyer
            .default_address
            .as_ref()
            .map(|a| a.adcode.as_text())
            .unwrap_or_else(|| "110105000000".into()),
        example_sku,
        second_shop_sku: first_sku(other_shop.id).await?,
        staff,
    })
}
