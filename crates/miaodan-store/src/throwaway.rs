//! A PostgreSQL database made for one test or benchmark run, dropped when the run is done.
//!
//! Every database PostgreSQL creates copies its template (about 8 MB before our schema, and a
//! benchmark's can reach gigabytes). Hundreds of tests per run, each leaving one behind, filled
//! small CI disks; so the guard drops its database however the run ends, panics included.

/// Owns one database on a PostgreSQL server and drops it (ending its connections) on drop.
#[derive(Debug)]
pub struct ThrowawayDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl ThrowawayDatabase {
    /// Creates database `name` on the server `admin_url` points at (any database the role may
    /// connect to). `name` must be a plain lower-case identifier: it is spliced into SQL.
    pub async fn create(admin_url: &str, name: &str) -> Result<ThrowawayDatabase, tokio_postgres::Error> {
        assert!(
            name.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
            "a throwaway database name is a plain identifier, not {name:?}"
        );
        let (client, connection) = tokio_postgres::connect(admin_url, tokio_postgres::NoTls).await?;
        tokio::spawn(connection);
        client.batch_execute(&format!("CREATE DATABASE {name}")).await?;
        let base = admin_url.rsplit_once('/').map_or(admin_url, |(base, _)| base);
        Ok(ThrowawayDatabase {
            admin_url: admin_url.to_string(),
            name: name.to_string(),
            url: format!("{base}/{name}"),
        })
    }

    /// The URL that opens this database.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for ThrowawayDatabase {
    fn drop(&mut self) {
        // A drop may run inside a runtime that must not block, or in none at all: a thread of
        // its own with a small runtime of its own works from either.
        let admin_url = self.admin_url.clone();
        let drop_sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(async {
                // A server gone quiet must not hold a test's end for the TCP timeout.
                let mut config: tokio_postgres::Config = admin_url.parse()?;
                config.connect_timeout(std::time::Duration::from_secs(5));
                let connecting = config.connect(tokio_postgres::NoTls);
                let (client, connection) =
                    tokio::time::timeout(std::time::Duration::from_secs(10), connecting).await??;
                tokio::spawn(connection);
                tokio::time::timeout(std::time::Duration::from_secs(10), client.batch_execute(&drop_sql)).await??;
                Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
            })?;
            Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(error)) => eprintln!("could not drop throwaway database {}: {error}", self.name),
            Err(_) => eprintln!(
                "could not drop throwaway database {}: the dropping thread panicked",
                self.name
            ),
        }
    }
}
