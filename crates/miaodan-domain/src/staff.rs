//! The people who work a shop (or the platform) through the console: their roles, their
//! sign-in names, and the rules for a password. Hashing and sessions live in the shell: this
//! module holds only the rules.
//!
//! **Invariants:** a shop's member has a shop role and a shop; a platform admin has neither
//! a shop nor a shop role ([`StaffRole::fits`]). A login is 3 to [`LOGIN_CHARS_MAX`] visible
//! ASCII characters, compared as written.

/// The shortest login.
pub const LOGIN_CHARS_MIN: usize = 3;
/// The longest login.
pub const LOGIN_CHARS_MAX: usize = 64;
/// The shortest password a member may choose.
pub const PASSWORD_CHARS_MIN: usize = 10;
/// The longest password: a bound on the work one sign-in asks of the hasher.
pub const PASSWORD_CHARS_MAX: usize = 256;

/// What a member may do, as a set of permissions (see the server's permission table).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StaffRole {
    /// Everything of the shop, staff and audit log included.
    Owner,
    /// Catalog, stock, warehouses, flash sales, orders, fulfillment, package center.
    Operator,
    /// After-sales, alerts, address changes, and reading.
    CustomerService,
    /// Refunds, payments, reconciliation, and reading.
    Finance,
    /// The platform's operator: every shop, like an admin token.
    PlatformAdmin,
}

impl StaffRole {
    pub const ALL: [StaffRole; 5] = [
        StaffRole::Owner,
        StaffRole::Operator,
        StaffRole::CustomerService,
        StaffRole::Finance,
        StaffRole::PlatformAdmin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StaffRole::Owner => "owner",
            StaffRole::Operator => "operator",
            StaffRole::CustomerService => "customer_service",
            StaffRole::Finance => "finance",
            StaffRole::PlatformAdmin => "platform_admin",
        }
    }

    pub fn parse(raw: &str) -> Option<StaffRole> {
        StaffRole::ALL.into_iter().find(|role| role.as_str() == raw)
    }

    /// Whether a member of this role may belong to a shop (`true`) or to the platform.
    pub fn fits(self, has_shop: bool) -> bool {
        (self == StaffRole::PlatformAdmin) != has_shop
    }
}

/// A sign-in name: 3 to 64 visible ASCII characters, unique across the platform.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Login(String);

impl Login {
    pub fn parse(raw: &str) -> Option<Login> {
        let shaped =
            (LOGIN_CHARS_MIN..=LOGIN_CHARS_MAX).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_graphic());
        shaped.then(|| Login(raw.to_string()))
    }

    /// A login read back from the store, which only ever holds parsed ones.
    pub fn from_stored(raw: String) -> Login {
        Login(raw)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why a new password is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PasswordRefusal {
    TooShort,
    TooLong,
}

/// Checks a password a member chooses (never one presented at sign-in: that one is only
/// compared with the hash).
pub fn check_new_password(raw: &str) -> Result<(), PasswordRefusal> {
    let chars = raw.chars().count();
    if chars < PASSWORD_CHARS_MIN {
        return Err(PasswordRefusal::TooShort);
    }
    if chars > PASSWORD_CHARS_MAX {
        return Err(PasswordRefusal::TooLong);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_login_is_three_to_sixty_four_visible_ascii_characters() {
        let cases = [
            ("ab", false),
            ("abc", true),
            (&"a".repeat(64)[..], true),
            (&"a".repeat(65)[..], false),
            ("an owner", false),
            ("店主abc", false),
            ("owner@shop-1.example", true),
        ];
        for (raw, accepted) in cases {
            assert_eq!(Login::parse(raw).is_some(), accepted, "{raw}");
        }
    }

    #[test]
    fn a_platform_admin_has_no_shop_and_every_other_role_has_one() {
        for role in StaffRole::ALL {
            let platform = role == StaffRole::PlatformAdmin;
            assert_eq!(role.fits(true), !platform, "{role:?}");
            assert_eq!(role.fits(false), platform, "{role:?}");
            assert_eq!(StaffRole::parse(role.as_str()), Some(role));
        }
        assert_eq!(StaffRole::parse("admin"), None);
    }

    #[test]
    fn a_new_password_has_ten_to_two_hundred_fifty_six_characters() {
        assert_eq!(check_new_password("123456789"), Err(PasswordRefusal::TooShort));
        assert_eq!(check_new_password("一二三四五六七八九十"), Ok(()));
        assert_eq!(check_new_password(&"x".repeat(257)), Err(PasswordRefusal::TooLong));
    }
}
