//! The schema stays distributable: every table the migrations make is placed (copied to every
//! node, or spread by a column: `miaodan_store::distribution`), and on PostgreSQL, read from the
//! catalog, every spread table follows the rules a distributed PostgreSQL such as Citus sets,
//! except the tables still listed as pending.
#![allow(clippy::unwrap_used)]

use crate::support::{Backend, Database};
use miaodan_store::distribution::{Placement, TABLES, WIDENING_PENDING};
use std::collections::{BTreeMap, BTreeSet};

both_backends!(every_table_of_the_schema_is_placed,);

async fn every_table_of_the_schema_is_placed(backend: Backend) {
    let db = Database::fresh(backend).await;
    drop(db.open().await);
    let listing = match backend {
        Backend::Sqlite => "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
        Backend::Postgres => "SELECT CAST(tablename AS TEXT) FROM pg_tables WHERE schemaname = current_schema()",
    };
    let made: BTreeSet<String> = db
        .texts(listing)
        .await
        .into_iter()
        .map(|row| row[0].clone().unwrap())
        .collect();
    let placed: BTreeSet<String> = TABLES.iter().map(|(table, _)| table.to_string()).collect();
    assert_eq!(made, placed, "the tables the migrations make, and those placed");
}

/// What keeps each spread table from being spread as it is: a missing or nullable column, or a
/// unique index (the primary key included) without the column.
async fn breaches(db: &Database) -> BTreeMap<String, Vec<String>> {
    let mut breaches: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (table, placement) in TABLES {
        let Placement::By { column, .. } = placement else {
            continue;
        };
        let nullable = db
            .texts(&format!(
                "SELECT CAST(is_nullable AS TEXT) FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name = '{table}' AND column_name = '{column}'"
            ))
            .await;
        match nullable.first().map(|row| row[0].as_deref()) {
            None => breaches
                .entry(table.to_string())
                .or_default()
                .push(format!("no column {column}")),
            Some(Some("YES")) => breaches
                .entry(table.to_string())
                .or_default()
                .push(format!("{column} may be null")),
            Some(_) => {}
        }
        let uniques = db
            .texts(&format!(
                "SELECT CAST(i.relname AS TEXT), \
                   (SELECT string_agg(CAST(a.attname AS TEXT), ',') FROM pg_attribute a \
                     WHERE a.attrelid = x.indrelid AND a.attnum = ANY(x.indkey)) \
                 FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid \
                 WHERE x.indisunique AND x.indrelid = CAST('{table}' AS regclass)"
            ))
            .await;
        for row in uniques {
            let (index, columns) = (row[0].clone().unwrap(), row[1].clone().unwrap_or_default());
            if !columns.split(',').any(|c| c == *column) {
                let breach = format!("unique index {index} ({columns}) lacks {column}");
                breaches.entry(table.to_string()).or_default().push(breach);
            }
        }
    }
    breaches
}

/// Spread tables follow the rules, but for those still pending, each of which breaks one
/// (a table fixed leaves the list in the same change); and no table has a foreign key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_spread_tables_follow_a_distributed_postgresqls_rules() {
    if crate::support::skip_postgres() {
        return;
    }
    let db = Database::fresh(Backend::Postgres).await;
    drop(db.open().await);
    let breaches = breaches(&db).await;
    let breaking: BTreeSet<&str> = breaches.keys().map(String::as_str).collect();
    let pending: BTreeSet<&str> = WIDENING_PENDING.iter().copied().collect();
    assert_eq!(
        breaking, pending,
        "tables breaking the rules, and those pending: {breaches:#?}"
    );
    let foreign_keys = db
        .texts("SELECT CAST(conname AS TEXT) FROM pg_constraint WHERE contype = 'f'")
        .await;
    assert!(foreign_keys.is_empty(), "foreign keys: {foreign_keys:?}");
}
