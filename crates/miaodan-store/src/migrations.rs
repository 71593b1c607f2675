//! The schema as numbered migrations (`crates/miaodan-store/migrations/NNNN_name.sql`), embedded
//! in the binary and applied in order at start: a fresh database runs them all, a database of
//! an earlier version runs the ones after its version, a current one runs none. Each migration
//! commits in its own transaction together with the version it reaches (both backends run DDL
//! in transactions), so a crash leaves the database at the last version it fully reached.
//!
//! The files are written once for both backends: only types and clauses SQLite and PostgreSQL
//! read alike (BIGINT, TEXT, partial indexes, `ON CONFLICT`), with two spellings filled in per
//! backend by [`Migration::statements`]: `{ID}` (SQLite's `INTEGER PRIMARY KEY` is the table's
//! rowid itself, saving a second B-tree per insert; PostgreSQL's 64-bit integer is `BIGINT`)
//! and `{WITHOUT_ROWID}` (SQLite stores a table with a composite key as that key's B-tree
//! alone); a migration that fills in a column it adds may use `{NOW_MS}`, the database's clock
//! in Unix milliseconds. A statement that starts with `{POSTGRES}` runs on PostgreSQL alone (a
//! key widened for a distributed PostgreSQL, which SQLite, never spread, keeps as it is).
//!
//! **Invariant:** a released migration never changes; the schema changes by a new file. A new
//! capability adds its tables in the next file and a line to [`MIGRATIONS`].

/// One migration: the version it brings a database to, and its SQL.
pub(crate) struct Migration {
    pub version: i64,
    pub name: &'static str,
    sql: &'static str,
}

impl Migration {
    /// The file's text, as written.
    #[cfg(test)]
    pub(crate) fn sql(&self) -> &'static str {
        self.sql
    }
}

/// Every migration, in version order; versions are 1, 2, 3, … without gaps.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "0001_initial",
        sql: include_str!("../migrations/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "0002_payments",
        sql: include_str!("../migrations/0002_payments.sql"),
    },
    Migration {
        version: 3,
        name: "0003_fulfillment_and_logistics",
        sql: include_str!("../migrations/0003_fulfillment_and_logistics.sql"),
    },
    Migration {
        version: 4,
        name: "0004_token_lifecycle",
        sql: include_str!("../migrations/0004_token_lifecycle.sql"),
    },
    Migration {
        version: 5,
        name: "0005_after_sales",
        sql: include_str!("../migrations/0005_after_sales.sql"),
    },
    Migration {
        version: 6,
        name: "0006_after_sales_policies",
        sql: include_str!("../migrations/0006_after_sales_policies.sql"),
    },
    Migration {
        version: 7,
        name: "0007_return_waybills",
        sql: include_str!("../migrations/0007_return_waybills.sql"),
    },
    Migration {
        version: 8,
        name: "0008_outbox",
        sql: include_str!("../migrations/0008_outbox.sql"),
    },
    Migration {
        version: 9,
        name: "0009_compass",
        sql: include_str!("../migrations/0009_compass.sql"),
    },
    Migration {
        version: 10,
        name: "0010_product_goods_class",
        sql: include_str!("../migrations/0010_product_goods_class.sql"),
    },
    Migration {
        version: 11,
        name: "0011_webhook_endpoints",
        sql: include_str!("../migrations/0011_webhook_endpoints.sql"),
    },
    Migration {
        version: 12,
        name: "0012_compass_dimensions",
        sql: include_str!("../migrations/0012_compass_dimensions.sql"),
    },
    Migration {
        version: 13,
        name: "0013_compass_flash_sales",
        sql: include_str!("../migrations/0013_compass_flash_sales.sql"),
    },
    Migration {
        version: 14,
        name: "0014_diagnosis",
        sql: include_str!("../migrations/0014_diagnosis.sql"),
    },
    Migration {
        version: 15,
        name: "0015_outbox_packs",
        sql: include_str!("../migrations/0015_outbox_packs.sql"),
    },
    Migration {
        version: 16,
        name: "0016_compass_hours",
        sql: include_str!("../migrations/0016_compass_hours.sql"),
    },
    Migration {
        version: 17,
        name: "0017_staff",
        sql: include_str!("../migrations/0017_staff.sql"),
    },
    Migration {
        version: 18,
        name: "0018_alert_work",
        sql: include_str!("../migrations/0018_alert_work.sql"),
    },
    Migration {
        version: 19,
        name: "0019_order_list_indexes",
        sql: include_str!("../migrations/0019_order_list_indexes.sql"),
    },
    Migration {
        version: 20,
        name: "0020_penalties",
        sql: include_str!("../migrations/0020_penalties.sql"),
    },
    Migration {
        version: 21,
        name: "0021_risk",
        sql: include_str!("../migrations/0021_risk.sql"),
    },
    Migration {
        version: 22,
        name: "0022_risk_subjects",
        sql: include_str!("../migrations/0022_risk_subjects.sql"),
    },
    Migration {
        version: 23,
        name: "0023_stock_movements",
        sql: include_str!("../migrations/0023_stock_movements.sql"),
    },
    Migration {
        version: 24,
        name: "0024_compass_carriers",
        sql: include_str!("../migrations/0024_compass_carriers.sql"),
    },
    Migration {
        version: 25,
        name: "0025_risk_challenges",
        sql: include_str!("../migrations/0025_risk_challenges.sql"),
    },
    Migration {
        version: 26,
        name: "0026_assistant",
        sql: include_str!("../migrations/0026_assistant.sql"),
    },
    Migration {
        version: 27,
        name: "0027_after_sales_settled_at",
        sql: include_str!("../migrations/0027_after_sales_settled_at.sql"),
    },
    Migration {
        version: 28,
        name: "0028_cluster",
        sql: include_str!("../migrations/0028_cluster.sql"),
    },
    Migration {
        version: 29,
        name: "0029_id_blocks",
        sql: include_str!("../migrations/0029_id_blocks.sql"),
    },
    Migration {
        version: 30,
        name: "0030_members_wire",
        sql: include_str!("../migrations/0030_members_wire.sql"),
    },
    Migration {
        version: 31,
        name: "0031_distributable_keys",
        sql: include_str!("../migrations/0031_distributable_keys.sql"),
    },
];

/// The version a database has once every migration ran.
pub(crate) const SCHEMA_VERSION: i64 = MIGRATIONS[MIGRATIONS.len() - 1].version;

/// Where the version a database reached is kept: one row, created before any migration runs.
pub(crate) const CREATE_VERSION_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)";

/// `{NOW_MS}`: the database's clock in Unix milliseconds (whole seconds on SQLite).
const SQLITE_NOW_MS: &str = "(CAST(strftime('%s', 'now') AS INTEGER) * 1000)";
const POSTGRES_NOW_MS: &str = "(CAST(EXTRACT(EPOCH FROM now()) * 1000 AS BIGINT))";

/// The start of a migration statement PostgreSQL alone runs.
const POSTGRES_ALONE: &str = "{POSTGRES}";

/// Which backend a migration's spellings are filled in for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

impl Migration {
    /// The migration's statements, comments removed, with the backend's spellings filled in.
    /// Statements end with `;`; the files keep `;` and `--` out of literals and comments.
    pub(crate) fn statements(&self, dialect: Dialect) -> Vec<String> {
        let (id, without_rowid, now_ms) = match dialect {
            Dialect::Sqlite => ("INTEGER", "WITHOUT ROWID", SQLITE_NOW_MS),
            Dialect::Postgres => ("BIGINT", "", POSTGRES_NOW_MS),
        };
        let code: String = self
            .sql
            .lines()
            .map(|line| line.split_once("--").map_or(line, |(code, _)| code))
            .collect::<Vec<_>>()
            .join("\n");
        code.split(';')
            .map(str::trim)
            .filter_map(|statement| match statement.strip_prefix(POSTGRES_ALONE) {
                Some(_) if dialect == Dialect::Sqlite => None,
                Some(postgres) => Some(postgres),
                None => Some(statement),
            })
            .map(|statement| {
                statement
                    .replace("{ID}", id)
                    .replace("{WITHOUT_ROWID}", without_rowid)
                    .replace("{NOW_MS}", now_ms)
            })
            .map(|statement| statement.trim().to_string())
            .filter(|statement| !statement.is_empty())
            .collect()
    }
}

/// The migrations a database at `version` still needs (all of them for a fresh one, at 0).
pub(crate) fn pending(version: i64) -> impl Iterator<Item = &'static Migration> {
    MIGRATIONS.iter().filter(move |m| m.version > version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_count_up_from_one_without_gaps() {
        for (migration, version) in MIGRATIONS.iter().zip(1..) {
            assert_eq!(migration.version, version, "{}", migration.name);
            assert!(
                migration.name.starts_with(&format!("{:04}_", migration.version)),
                "{} does not carry its version",
                migration.name
            );
        }
        assert_eq!(SCHEMA_VERSION, 31);
    }

    #[test]
    fn every_statement_is_ddl_or_fills_in_what_it_adds_with_both_spellings_filled_in() {
        for migration in MIGRATIONS {
            for dialect in [Dialect::Sqlite, Dialect::Postgres] {
                let statements = migration.statements(dialect);
                assert!(!statements.is_empty(), "{} is empty", migration.name);
                for statement in statements {
                    assert!(
                        [
                            "CREATE TABLE IF NOT EXISTS ",
                            "CREATE INDEX IF NOT EXISTS ",
                            "CREATE UNIQUE INDEX IF NOT EXISTS ",
                            "ALTER TABLE ",
                            "INSERT INTO ",
                            "UPDATE ",
                            // A table whose rows a migration moved into its successor.
                            "DROP TABLE ",
                            // An index a migration replaces with a wider one.
                            "DROP INDEX IF EXISTS "
                        ]
                        .iter()
                        .any(|start| statement.starts_with(start)),
                        "{}: unexpected statement {statement}",
                        migration.name
                    );
                    assert!(!statement.contains('{') && !statement.contains("--"), "{statement}");
                }
            }
        }
    }

    #[test]
    fn a_statement_marked_for_postgresql_runs_there_alone() {
        let migration = Migration {
            version: 9,
            name: "0009_test",
            sql: "{POSTGRES} ALTER TABLE t ADD PRIMARY KEY (id, k);\nUPDATE t SET k = 1;",
        };
        assert_eq!(migration.statements(Dialect::Sqlite), vec!["UPDATE t SET k = 1"]);
        assert_eq!(
            migration.statements(Dialect::Postgres),
            vec!["ALTER TABLE t ADD PRIMARY KEY (id, k)", "UPDATE t SET k = 1"]
        );
    }

    #[test]
    fn comments_are_removed_and_spellings_differ_per_backend() {
        let migration = Migration {
            version: 9,
            name: "0009_test",
            sql: "-- a table\nCREATE TABLE t (id {ID} PRIMARY KEY, -- its id\n  k BIGINT) {WITHOUT_ROWID};\n\n",
        };
        assert_eq!(
            migration.statements(Dialect::Sqlite),
            vec!["CREATE TABLE t (id INTEGER PRIMARY KEY, \n  k BIGINT) WITHOUT ROWID"]
        );
        assert_eq!(
            migration.statements(Dialect::Postgres),
            vec!["CREATE TABLE t (id BIGINT PRIMARY KEY, \n  k BIGINT)"]
        );
    }

    #[test]
    fn a_database_runs_the_migrations_after_its_version() {
        let versions = |from: i64| pending(from).map(|m| m.version).collect::<Vec<_>>();
        let last = SCHEMA_VERSION;
        assert_eq!(versions(0), (1..=last).collect::<Vec<i64>>());
        assert_eq!(versions(2), (3..=last).collect::<Vec<i64>>());
        assert_eq!(versions(last - 1), vec![last]);
        assert_eq!(versions(last), Vec::<i64>::new());
    }
}
