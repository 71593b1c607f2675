//! SQL plumbing shared by both backends and every capability module: parameter values, the
//! row accessor trait both drivers implement, the shard filter, and the conversions of raw
//! columns back into checked domain values.
//!
//! **Architecture invariant:** the store's modules and the two backends are the only code that
//! knows SQL. Placeholders are `$1, $2, …` in order of first use, which both SQLite and
//! PostgreSQL read as positional parameters.

use crate::StoreError;
use miaodan_domain::{Fen, Timestamp};
use std::borrow::Cow;

/// A parameter value; typed even when null, because PostgreSQL checks parameter types.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    I64(i64),
    OptI64(Option<i64>),
    Text(String),
    OptText(Option<String>),
}

pub struct Statement {
    pub sql: Cow<'static, str>,
    pub params: Vec<Value>,
}

impl Statement {
    pub fn new(sql: &'static str, params: Vec<Value>) -> Statement {
        Statement {
            sql: Cow::Borrowed(sql),
            params,
        }
    }

    /// A statement whose text is built at run time (a column list, an `IN` list, a filter).
    pub fn owned(sql: String, params: Vec<Value>) -> Statement {
        Statement {
            sql: Cow::Owned(sql),
            params,
        }
    }
}

/// Column access by position, implemented for both drivers' rows.
pub trait Row {
    fn opt_i64(&self, idx: usize) -> Result<Option<i64>, StoreError>;
    fn opt_text(&self, idx: usize) -> Result<Option<String>, StoreError>;

    fn i64(&self, idx: usize) -> Result<i64, StoreError> {
        self.opt_i64(idx)?
            .ok_or_else(|| StoreError::corrupt(format!("column {idx} is null")))
    }
    fn text(&self, idx: usize) -> Result<String, StoreError> {
        self.opt_text(idx)?
            .ok_or_else(|| StoreError::corrupt(format!("column {idx} is null")))
    }
}

/// The shops of one shard: those with `id % count == index`. Every table a shard loads carries
/// its shop id, so each capability filters its own rows with it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ShardOf {
    pub index: u32,
    pub count: u32,
}

impl ShardOf {
    /// The two parameters of a `<shop column> % $1 = $2` condition, first in the statement.
    pub(crate) fn params(self) -> Vec<Value> {
        vec![Value::I64(i64::from(self.count)), Value::I64(i64::from(self.index))]
    }

    /// `SELECT columns FROM table` of this shard's rows, ordered by the first column.
    pub(crate) fn select(self, columns: &str, table: &str, shop_column: &str) -> Statement {
        Statement::owned(
            format!("SELECT {columns} FROM {table} WHERE {shop_column} % $1 = $2 ORDER BY 1"),
            self.params(),
        )
    }
}

pub(crate) fn id<T>(raw: i64, make: fn(i64) -> Option<T>) -> Result<T, StoreError> {
    make(raw).ok_or_else(|| StoreError::corrupt(format!("invalid id {raw}")))
}

pub(crate) fn ms(raw: i64) -> Timestamp {
    Timestamp::from_unix_ms(raw)
}

pub(crate) fn fen(raw: i64) -> Result<Fen, StoreError> {
    Fen::from_stored(raw).ok_or_else(|| StoreError::corrupt(format!("negative amount {raw}")))
}

/// A comma-separated list of ids for an `IN (…)` clause: integers only, never caller text.
pub(crate) fn id_list(ids: impl IntoIterator<Item = i64>) -> String {
    ids.into_iter().map(|id| id.to_string()).collect::<Vec<_>>().join(",")
}
