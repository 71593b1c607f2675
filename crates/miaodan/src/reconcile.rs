//! `miaodan reconcile`: fetches a day's reconciliation report from a running server and prints
//! it as a table (or JSON). Exits non-zero when the day does not balance.

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;

pub async fn print(url: &str, token: &str, date: Option<String>, json: bool) -> anyhow::Result<()> {
    let base = url.trim_end_matches('/');
    let authority = base
        .strip_prefix("http://")
        .filter(|authority| !authority.is_empty() && !authority.contains('/'))
        .ok_or_else(|| anyhow::anyhow!("--url {url} is not a server address: give it as http://host:port"))?;
    let path = match &date {
        Some(date) => format!("/v1/reconciliation?date={date}"),
        None => "/v1/reconciliation".to_string(),
    };
    let unreachable = |cause: &dyn std::fmt::Display| {
        anyhow::anyhow!(
            "could not reach a miaodan server at {base} ({cause}); is `miaodan serve` running there? \
             Point the command at another with --url http://host:port"
        )
    };
    let stream = tokio::net::TcpStream::connect(authority)
        .await
        .map_err(|e| unreachable(&e))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| unreachable(&e))?;
    tokio::spawn(connection);
    let request = hyper::Request::get(&path)
        .header("host", authority)
        .header("authorization", format!("Bearer {token}"))
        .body(Empty::<Bytes>::new())?;
    let response = sender.send_request(request).await.map_err(|e| unreachable(&e))?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| unreachable(&e))?
        .to_bytes();
    if !status.is_success() {
        // A refusal is problem+json: its sentence is what a person reads.
        let problem: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let detail = match problem["detail"].as_str() {
            Some(detail) => detail.to_string(),
            None => String::from_utf8_lossy(&body).into_owned(),
        };
        anyhow::bail!("the server at {base} answered {status}: {detail}");
    }
    let report: serde_json::Value =
        serde_json::from_slice(&body).with_context(|| format!("the server at {base} sent no report"))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        // Money stays integer fen: yuan are shown by splitting, never by dividing floats.
        let yuan = |key: &str| {
            let fen = report[key].as_i64().unwrap_or(0);
            let sign = if fen < 0 { "-" } else { "" };
            format!("{sign}{}.{:02}", fen.unsigned_abs() / 100, fen.unsigned_abs() % 100)
        };
        println!(
            "reconciliation {} · provider {}",
            report["date"].as_str().unwrap_or("?"),
            report["provider"].as_str().unwrap_or("?")
        );
        println!(
            "  captured   {:>14} yuan  ({} captures)",
            yuan("captured_fen"),
            report["captures"]
        );
        println!(
            "  refunded   {:>14} yuan  ({} refunds)",
            yuan("refunded_fen"),
            report["refunds"]
        );
        println!("  net        {:>14} yuan", yuan("net_fen"));
        println!(
            "  orders paid{:>14} yuan  ({} orders), refunded {} yuan",
            yuan("paid_orders_fen"),
            report["paid_orders"],
            yuan("paid_orders_refunded_fen")
        );
        println!("  orders net {:>14} yuan", yuan("orders_net_fen"));
        println!(
            "  provider   {:>14} yuan captured, {} yuan refunded",
            yuan("provider_captured_fen"),
            yuan("provider_refunded_fen")
        );
        let mismatches = report["mismatches"].as_array().cloned().unwrap_or_default();
        println!("  balanced   {}", report["balanced"]);
        for m in &mismatches {
            println!(
                "  ✗ {:<28} {}",
                m["kind"].as_str().unwrap_or("?"),
                m["detail"].as_str().unwrap_or("")
            );
        }
    }
    anyhow::ensure!(report["balanced"].as_bool() == Some(true), "the day does not balance");
    Ok(())
}
