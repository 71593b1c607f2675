//! `miaodan reconcile`: fetches a day's reconciliation report from a running server and prints
//! it as a table (or JSON). Exits non-zero when the day does not balance.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;

pub async fn print(url: &str, token: &str, date: Option<String>, json: bool) -> anyhow::Result<()> {
    let base = url.trim_end_matches('/');
    let authority = base
        .strip_prefix("http://")
        .ok_or_else(|| anyhow::anyhow!("the server url must be http://host:port"))?;
    let path = match &date {
        Some(date) => format!("/v1/reconciliation?date={date}"),
        None => "/v1/reconciliation".to_string(),
    };
    let stream = tokio::net::TcpStream::connect(authority).await?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let request = hyper::Request::get(&path)
        .header("host", authority)
        .header("authorization", format!("Bearer {token}"))
        .body(Empty::<Bytes>::new())?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    anyhow::ensure!(status.is_success(), "{status}: {}", String::from_utf8_lossy(&body));
    let report: serde_json::Value = serde_json::from_slice(&body)?;
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
