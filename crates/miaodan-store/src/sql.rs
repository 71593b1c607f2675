//! SQL plumbing shared by both backends and every capability module: parameter values, the
//! row accessor trait both drivers implement, the shard filter, and the conversions of raw
//! columns back into checked domain values.
//!
//! **Architecture invariant:** the store's modules and the two backends are the only code that
//! knows SQL. Placeholders are `$1, $2, …` in order of first use, which both SQLite and
//! PostgreSQL read as positional parameters.

use crate::StoreError;
use crate::migrations::Dialect;
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

/// A `WHERE` clause built one condition at a time, for the read queries whose filters are
/// optional. Each `?` of a condition is its next parameter, numbered `$1, $2, …` in order.
#[derive(Default)]
pub(crate) struct Conditions {
    conditions: Vec<String>,
    params: Vec<Value>,
}

impl Conditions {
    /// Adds `condition`, its `?`s standing for `values` in order.
    pub(crate) fn and(&mut self, condition: &str, values: Vec<Value>) {
        let mut numbered = String::with_capacity(condition.len() + 4 * values.len());
        let mut values = values.into_iter();
        for part in condition.split_inclusive('?') {
            match part.strip_suffix('?') {
                Some(head) => {
                    numbered.push_str(head);
                    self.params.push(values.next().expect("a value for every `?`"));
                    numbered.push_str(&format!("${}", self.params.len()));
                }
                None => numbered.push_str(part),
            }
        }
        assert!(values.next().is_none(), "a `?` for every value");
        self.conditions.push(numbered);
    }

    /// `SELECT {head} {WHERE …} {tail} LIMIT $n`: the conditions joined with `AND`, then `tail`
    /// (the order), then the limit as the last parameter.
    pub(crate) fn select(mut self, head: &str, tail: &str, limit: i64) -> Statement {
        let where_clause = if self.conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.conditions.join(" AND "))
        };
        self.params.push(Value::I64(limit));
        let sql = format!("SELECT {head} {where_clause} {tail} LIMIT ${}", self.params.len());
        Statement::owned(sql, self.params)
    }
}

/// The mark of a distribution column in an upsert's conflict target: `ON CONFLICT (id{SPREAD_BY
/// shop_id})`. On PostgreSQL the table's key includes that column (`distribution`: a spread
/// table's unique keys must), so the target names it; SQLite keeps such a table keyed by its
/// rowid, and cannot take an index holding the rowid as a target, so the target names the key
/// alone. An upsert must name its table's key exactly on each backend, hence two spellings.
const SPREAD_BY: &str = "{SPREAD_BY ";

/// `statements` spelled for `dialect`: each [`SPREAD_BY`] mark filled in or left out. The
/// texts without a mark (nearly all) are not touched.
pub(crate) fn spelled(mut statements: Vec<Statement>, dialect: Dialect) -> Vec<Statement> {
    for statement in &mut statements {
        if statement.sql.contains(SPREAD_BY) {
            statement.sql = Cow::Owned(spell(&statement.sql, dialect));
        }
    }
    statements
}

fn spell(sql: &str, dialect: Dialect) -> String {
    let mut spelled = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(start) = rest.find(SPREAD_BY) {
        spelled.push_str(&rest[..start]);
        let after = &rest[start + SPREAD_BY.len()..];
        let end = after.find('}').expect("a {SPREAD_BY column} mark is closed");
        if dialect == Dialect::Postgres {
            spelled.push_str(", ");
            spelled.push_str(after[..end].trim());
        }
        rest = &after[end + 1..];
    }
    spelled.push_str(rest);
    spelled
}

/// A single-row `INSERT INTO t (c1, …, cn) VALUES ($1, …, $n)`, with nothing after it but
/// perhaps `ON CONFLICT (…) DO NOTHING`: a run
/// of such statements with the same text can be written as ONE statement of many rows, which
/// each backend does in its own way (SQLite: rows of `VALUES`; PostgreSQL: `UNNEST` of one
/// array per column). The effect is the same as the statements one by one, in order; the cost
/// is one statement's overhead per run instead of per row. The capability modules write their
/// rows as before and need not know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RowInsert<'a> {
    /// `INSERT INTO t (c1, …, cn)`.
    pub(crate) head: &'a str,
    pub(crate) columns: usize,
    /// `ON CONFLICT (…) DO NOTHING`, or empty.
    pub(crate) on_conflict: &'a str,
}

impl<'a> RowInsert<'a> {
    /// The statement's shape, if it is a plain single-row insert.
    pub(crate) fn of(sql: &'a str) -> Option<RowInsert<'a>> {
        let sql = sql.trim();
        if !sql.starts_with("INSERT INTO ") {
            return None;
        }
        let at = sql.rfind("VALUES")?;
        let head = sql[..at].trim_end();
        let rest = sql[at + "VALUES".len()..].trim();
        // Skipping a row that is there already means the same for many rows; an update does not
        // (PostgreSQL refuses to update one row twice in a statement).
        let (values, on_conflict) = match rest.find("ON CONFLICT") {
            Some(at) if rest.ends_with(" DO NOTHING") => (rest[..at].trim_end(), rest[at..].trim()),
            Some(_) => return None,
            None => (rest, ""),
        };
        let values = values.strip_prefix('(')?.strip_suffix(')')?;
        let mut columns = 0;
        for (n, placeholder) in values.split(',').enumerate() {
            if placeholder.trim().strip_prefix('$')?.parse::<usize>().ok()? != n + 1 {
                return None;
            }
            columns += 1;
        }
        (head.ends_with(')') && !head.contains("SELECT")).then_some(RowInsert {
            head,
            columns,
            on_conflict,
        })
    }
}

/// A stretch of a transaction's statements: a run of row inserts of one text (`rows` > 1 only
/// then), or a single statement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Run {
    pub(crate) first: usize,
    pub(crate) rows: usize,
    insert: bool,
}

/// `statements` cut into [`Run`]s, in order.
pub(crate) fn runs(statements: &[Statement]) -> Vec<Run> {
    let mut runs: Vec<Run> = Vec::with_capacity(statements.len());
    for (i, statement) in statements.iter().enumerate() {
        match runs.last_mut() {
            Some(run) if run.insert && statements[run.first].sql == statement.sql => run.rows += 1,
            _ => runs.push(Run {
                first: i,
                rows: 1,
                insert: !statement.params.is_empty() && RowInsert::of(&statement.sql).is_some(),
            }),
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_number_their_parameters_in_order() {
        let mut conditions = Conditions::default();
        conditions.and("shop_id = ?", vec![Value::I64(3)]);
        conditions.and(
            "(created_at < ? OR (created_at = ? AND id < ?))",
            vec![Value::I64(9), Value::I64(9), Value::I64(4)],
        );
        let statement = conditions.select("id FROM orders", "ORDER BY id DESC", 51);
        assert_eq!(
            statement.sql,
            "SELECT id FROM orders WHERE shop_id = $1 AND (created_at < $2 OR (created_at = $3 AND id < $4)) \
             ORDER BY id DESC LIMIT $5"
        );
        assert_eq!(statement.params.len(), 5);
        let bare = Conditions::default().select("id FROM shops", "ORDER BY id", 2);
        assert_eq!(bare.sql, "SELECT id FROM shops  ORDER BY id LIMIT $1");
    }

    #[test]
    fn a_plain_single_row_insert_is_known_by_its_shape() {
        let insert = RowInsert::of("INSERT INTO t (a, b,\n c)\n    VALUES ($1, $2, $3)");
        assert_eq!(
            insert,
            Some(RowInsert {
                head: "INSERT INTO t (a, b,\n c)",
                columns: 3,
                on_conflict: ""
            })
        );
        let skipping = RowInsert::of("INSERT INTO t (a, b) VALUES ($1, $2)\n ON CONFLICT (a) DO NOTHING");
        assert_eq!(skipping.map(|s| s.on_conflict), Some("ON CONFLICT (a) DO NOTHING"));
        for other in [
            "INSERT INTO t (a, b) VALUES ($1, $2) ON CONFLICT (a) DO UPDATE SET b = excluded.b",
            "INSERT INTO t (a, b) VALUES ($2, $1)",
            "INSERT INTO t (a, b) VALUES ($1, 7)",
            "INSERT INTO t (a) SELECT x FROM u WHERE y IN (SELECT 1) VALUES ($1)",
            "UPDATE t SET a = $1",
        ] {
            assert_eq!(RowInsert::of(other), None, "{other}");
        }
    }

    #[test]
    fn a_spread_column_is_named_in_postgresqls_conflict_target_and_left_out_of_sqlites() {
        let upsert = "INSERT INTO t (id, shop_id, x) VALUES ($1, $2, $3) ON CONFLICT (id{SPREAD_BY shop_id}) \
                      DO UPDATE SET x = excluded.x";
        let statements = || {
            vec![
                Statement::new(upsert, vec![]),
                Statement::new("UPDATE t SET x = 1", vec![]),
            ]
        };
        let texts = |dialect| {
            spelled(statements(), dialect)
                .into_iter()
                .map(|s| s.sql.into_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            texts(Dialect::Postgres)[0],
            "INSERT INTO t (id, shop_id, x) VALUES ($1, $2, $3) ON CONFLICT (id, shop_id) DO UPDATE SET x = excluded.x"
        );
        assert_eq!(
            texts(Dialect::Sqlite)[0],
            "INSERT INTO t (id, shop_id, x) VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET x = excluded.x"
        );
        assert_eq!(texts(Dialect::Sqlite)[1], "UPDATE t SET x = 1");
        // A run of row inserts is gathered from the spelled text.
        let skipping = "INSERT INTO t (id, shop_id) VALUES ($1, $2) ON CONFLICT (id{SPREAD_BY shop_id}) DO NOTHING";
        let skipping = spelled(vec![Statement::new(skipping, vec![])], Dialect::Postgres).remove(0);
        let shape = RowInsert::of(&skipping.sql).map(|s| s.on_conflict.to_string());
        assert_eq!(shape.as_deref(), Some("ON CONFLICT (id, shop_id) DO NOTHING"));
    }

    #[test]
    fn runs_gather_neighbouring_row_inserts_of_one_text() {
        let row = |sql: &'static str| Statement::new(sql, vec![Value::I64(1)]);
        let a = "INSERT INTO a (x) VALUES ($1)";
        let b = "INSERT INTO b (x) VALUES ($1)";
        let update = "UPDATE a SET x = $1";
        let statements = [row(a), row(a), row(a), row(b), row(update), row(update), row(a)];
        let shape: Vec<(usize, usize)> = runs(&statements).iter().map(|r| (r.first, r.rows)).collect();
        assert_eq!(shape, [(0, 3), (3, 1), (4, 1), (5, 1), (6, 1)]);
    }
}
