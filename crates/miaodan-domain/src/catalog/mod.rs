//! Catalog: shops, products and their SKUs, prices, and product identity across shops (GTIN).
//!
//! Invariants: every product and SKU belongs to exactly one shop; a SKU's shop is its
//! product's shop; prices are bounded integer fen ([`crate::money::PRICE_FEN_MAX`]).

mod book;
mod commands;

pub use book::CatalogBook;
pub use commands::{AddSku, Command, CreateProduct, CreateShop, UpdateProduct, UpdateShop, UpdateSku};

use crate::after_sales::policy::ExemptGoods;
use crate::ids::{ProductId, ShopId, SkuId};
use crate::money::Fen;
use crate::time::Timestamp;

/// A piece of user text of at most `MAX` characters (as sent, before trimming), trimmed, without
/// control characters, and not blank: it shows at least one character that is neither
/// whitespace nor [invisible](is_invisible). Parse once at the edge; the core trusts it
/// afterwards.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Text<const MAX: usize>(String);

/// Why a piece of text was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextError {
    Empty,
    TooLong { max_chars: usize },
    ControlCharacter,
}

impl std::fmt::Display for TextError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TextError::Empty => write!(f, "text must not be empty"),
            TextError::TooLong { max_chars } => write!(f, "text must be at most {max_chars} characters"),
            TextError::ControlCharacter => write!(f, "text must not contain control characters"),
        }
    }
}

impl std::error::Error for TextError {}

impl<const MAX: usize> Text<MAX> {
    pub fn parse(raw: &str) -> Result<Self, TextError> {
        if raw.chars().count() > MAX {
            return Err(TextError::TooLong { max_chars: MAX });
        }
        let trimmed = raw.trim();
        if !trimmed.chars().any(|c| !c.is_whitespace() && !is_invisible(c)) {
            return Err(TextError::Empty);
        }
        if trimmed.chars().any(char::is_control) {
            return Err(TextError::ControlCharacter);
        }
        Ok(Text(trimmed.to_string()))
    }

    /// Rebuilds text read back from storage (it was validated when written).
    pub fn from_stored(raw: String) -> Self {
        Text(raw)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The characters that render as nothing: Unicode's `Default_Ignorable_Code_Point`s of the
/// Basic Multilingual Plane (the soft hyphen, zero-width spaces and joiners, direction marks
/// and isolates, invisible operators, the byte-order mark, Hangul fillers, variation
/// selectors…), as inclusive ranges. A text of these and whitespace only looks empty, so it
/// is refused as empty; inside visible text they stay (a family emoji joins with U+200D).
pub const INVISIBLE: [(char, char); 14] = [
    ('\u{00AD}', '\u{00AD}'),
    ('\u{034F}', '\u{034F}'),
    ('\u{061C}', '\u{061C}'),
    ('\u{115F}', '\u{1160}'),
    ('\u{17B4}', '\u{17B5}'),
    ('\u{180B}', '\u{180F}'),
    ('\u{200B}', '\u{200F}'),
    ('\u{202A}', '\u{202E}'),
    ('\u{2060}', '\u{206F}'),
    ('\u{3164}', '\u{3164}'),
    ('\u{FE00}', '\u{FE0F}'),
    ('\u{FEFF}', '\u{FEFF}'),
    ('\u{FFA0}', '\u{FFA0}'),
    ('\u{FFF0}', '\u{FFF8}'),
];

/// Whether `c` renders as nothing (see [`INVISIBLE`]).
pub fn is_invisible(c: char) -> bool {
    INVISIBLE.iter().any(|&(first, last)| (first..=last).contains(&c))
}

pub type ShopName = Text<60>;
pub type ProductTitle = Text<120>;
pub type ProductDescription = Text<2000>;
pub type SkuName = Text<60>;

/// A Global Trade Item Number (GTIN-8, -12, -13 or -14) with a valid check digit. The same
/// GTIN in two shops means the same product, which is what price comparison builds on.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Gtin(String);

impl Gtin {
    pub fn parse(raw: &str) -> Option<Gtin> {
        let digits: Vec<u32> = raw.chars().map(|c| c.to_digit(10)).collect::<Option<_>>()?;
        if ![8, 12, 13, 14].contains(&digits.len()) {
            return None;
        }
        let (body, check) = digits.split_at(digits.len() - 1);
        // GS1: weights 3,1,3,1… from the rightmost body digit.
        let sum: u32 = body
            .iter()
            .rev()
            .enumerate()
            .map(|(i, d)| if i % 2 == 0 { d * 3 } else { *d })
            .sum();
        ((10 - sum % 10) % 10 == check[0]).then(|| Gtin(raw.to_string()))
    }

    pub fn from_stored(raw: String) -> Gtin {
        Gtin(raw)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ListingStatus {
    /// Visible to buyers and orderable.
    Active,
    /// Hidden from buyers; cannot be ordered. Existing orders are unaffected.
    Archived,
}

impl ListingStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ListingStatus::Active => "active",
            ListingStatus::Archived => "archived",
        }
    }

    pub fn parse(raw: &str) -> Option<ListingStatus> {
        match raw {
            "active" => Some(ListingStatus::Active),
            "archived" => Some(ListingStatus::Archived),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shop {
    pub id: ShopId,
    pub name: ShopName,
    /// What the shop sells: its diagnosis compares it with the other shops of its category.
    pub category: ShopCategory,
    pub created_at: Timestamp,
}

/// The categories a shop may sell in: a fixed list, so that each has enough shops for a
/// category figure to be an aggregate rather than one other shop's figures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub enum ShopCategory {
    Apparel,
    Beauty,
    Food,
    Electronics,
    Home,
    Baby,
    Sports,
    /// Every shop that has not said, and every shop written before categories existed.
    #[default]
    Other,
}

impl ShopCategory {
    pub const ALL: [ShopCategory; 8] = [
        ShopCategory::Apparel,
        ShopCategory::Beauty,
        ShopCategory::Food,
        ShopCategory::Electronics,
        ShopCategory::Home,
        ShopCategory::Baby,
        ShopCategory::Sports,
        ShopCategory::Other,
    ];
    pub const NAMES: [&'static str; 8] = [
        "apparel",
        "beauty",
        "food",
        "electronics",
        "home",
        "baby",
        "sports",
        "other",
    ];

    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    pub fn parse(raw: &str) -> Option<ShopCategory> {
        Self::ALL.into_iter().find(|c| c.as_str() == raw)
    }

    /// The category's name in Chinese, for reports.
    pub fn zh(self) -> &'static str {
        ["服饰", "美妆", "食品", "数码", "家居", "母婴", "运动", "其他"][self as usize]
    }
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Product {
    pub id: ProductId,
    pub shop: ShopId,
    pub title: ProductTitle,
    pub description: Option<ProductDescription>,
    pub gtin: Option<Gtin>,
    /// The class of goods the no-reason window may exclude (customised, perishable, …), as
    /// the merchant declares it; `None` for ordinary goods. After-sales rules read it.
    pub goods_class: Option<ExemptGoods>,
    pub status: ListingStatus,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Sku {
    pub id: SkuId,
    pub product: ProductId,
    pub shop: ShopId,
    pub name: SkuName,
    pub price: Fen,
    pub status: ListingStatus,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A SKU as the merchant describes it when creating it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NewSku {
    pub id: SkuId,
    pub name: SkuName,
    pub price: Fen,
}

/// The fields of a product a merchant may change; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProductChanges {
    pub title: Option<ProductTitle>,
    /// `Some(None)` clears the description.
    pub description: Option<Option<ProductDescription>>,
    /// `Some(None)` clears the GTIN.
    pub gtin: Option<Option<Gtin>>,
    /// `Some(None)` declares the goods ordinary.
    pub goods_class: Option<Option<ExemptGoods>>,
    pub status: Option<ListingStatus>,
}

/// The fields of a SKU a merchant may change; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SkuChanges {
    pub name: Option<SkuName>,
    pub price: Option<Fen>,
    pub status: Option<ListingStatus>,
}

/// The most SKUs one product may have.
pub const PRODUCT_SKUS_MAX: usize = 100;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gtin_check_digits_are_verified() {
        assert!(Gtin::parse("6901234567892").is_some(), "valid EAN-13");
        assert!(Gtin::parse("6901234567893").is_none(), "wrong check digit");
        assert!(Gtin::parse("96385074").is_some(), "valid EAN-8");
        assert!(Gtin::parse("036000291452").is_some(), "valid UPC-A");
        assert!(Gtin::parse("69012345678").is_none(), "11 digits is no GTIN");
        assert!(Gtin::parse("69012345678a2").is_none());
    }

    #[test]
    fn text_is_trimmed_bounded_and_free_of_control_characters() {
        assert_eq!(
            Text::<6>::parse("  秒单  ").map(|t| t.as_str().to_string()),
            Ok("秒单".into())
        );
        assert_eq!(Text::<5>::parse("   "), Err(TextError::Empty));
        assert_eq!(Text::<2>::parse("秒单了"), Err(TextError::TooLong { max_chars: 2 }));
        assert_eq!(Text::<9>::parse("a\u{0}b"), Err(TextError::ControlCharacter));
        assert_eq!(Text::<4>::parse(" 秒单  "), Err(TextError::TooLong { max_chars: 4 }));
    }

    #[test]
    fn text_of_invisible_characters_only_is_empty_like_spaces_only() {
        for blank in [
            "\u{200B}\u{200B}\u{200B}",
            " \u{FEFF} ",
            "\u{200D}\u{2060}\u{00AD}",
            "\u{3164}",
            "\u{FE0F}",
        ] {
            assert_eq!(Text::<9>::parse(blank), Err(TextError::Empty), "{blank:?}");
        }
        for shown in ["\u{200B}秒", "👨\u{200D}👩\u{200D}👧", "a\u{00AD}b"] {
            assert!(Text::<9>::parse(shown).is_ok(), "{shown:?}");
        }
    }
}
