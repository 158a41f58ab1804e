//! `--metrics-addr`: Prometheus metrics and health checks over plain HTTP
//! (`GET /metrics`, `/healthz`, `/readyz`), for systemd, Kubernetes probes
//! and scrapers. Deliberately tiny: one request per connection, GET only.

use std::sync::Arc;
use std::time::Duration;

use async_nats::Client;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::stats::{MetricsFormat, STALL, Stats};

/// What the endpoint reports on.
#[derive(Clone)]
pub struct MetricsState {
    pub stats: Arc<Stats>,
    /// Each route's models and comparisons, as they are now.
    #[allow(clippy::type_complexity)]
    pub routes: Arc<dyn Fn() -> Vec<crate::stats::RouteInfo> + Send + Sync>,
    pub client: Client,
}

/// Ready: connected to NATS, and in durable mode every unit owning its
/// partition or standing by (not starting or retrying). The body lists the
/// units' states either way, so a probe's log says which one is not.
fn readiness(state: &MetricsState) -> (&'static str, &'static str, String) {
    let units = state.stats.unit_states();
    let mut body = String::new();
    let connected = state.client.connection_state() == async_nats::connection::State::Connected;
    if !connected {
        body.push_str("not connected to NATS\n");
    }
    // Disconnected, a unit's state is only what it was last (a unit cannot
    // own anything without the server).
    let last = if connected {
        ""
    } else {
        " (when last connected)"
    };
    let mut ready = connected;
    for (key, s) in &units {
        ready &= s.ready();
        let name = serde_json::to_value(s).unwrap_or_default();
        body.push_str(&format!(
            "unit {key}: {}{last}\n",
            name.as_str().unwrap_or("?")
        ));
    }
    if ready {
        ("200 OK", "text/plain", format!("ready\n{body}"))
    } else {
        ("503 Service Unavailable", "text/plain", body)
    }
}

/// Serves until `stop` turns true.
pub async fn serve(listener: TcpListener, state: MetricsState, mut stop: watch::Receiver<bool>) {
    loop {
        let conn = tokio::select! {
            _ = stop.changed() => return,
            c = listener.accept() => c,
        };
        match conn {
            Ok((sock, _)) => {
                let state = state.clone();
                tokio::spawn(async move {
                    if let Err(e) = handle(sock, &state).await {
                        tracing::debug!("metrics connection: {e}");
                    }
                });
            }
            Err(e) => {
                tracing::warn!("metrics listener: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn handle(mut sock: TcpStream, state: &MetricsState) -> std::io::Result<()> {
    let mut buf = vec![0u8; 4096];
    let mut len = 0;
    // Read the request head (bounded in size and time).
    let read = async {
        while !buf[..len].windows(4).any(|w| w == b"\r\n\r\n") && len < buf.len() {
            let n = sock.read(&mut buf[len..]).await?;
            if n == 0 {
                break;
            }
            len += n;
        }
        Ok::<_, std::io::Error>(())
    };
    tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "request head"))??;
    let head = String::from_utf8_lossy(&buf[..len]);
    let mut parts = head.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    // A scrape config's `params` come as a query string: not ours to refuse.
    let path = target.split('?').next().unwrap_or("");
    // HEAD: GET's status and headers without the body.
    let get = matches!(method, "GET" | "HEAD");
    let (status, ctype, body) = match (get, path) {
        (true, "/metrics") => {
            let format = MetricsFormat::from_accept(&header(&head, "accept"));
            // As `/readyz` sees it: the client's events say nothing until a
            // first connection (a wrong URL, a server down at start).
            let connected =
                state.client.connection_state() == async_nats::connection::State::Connected;
            (state.stats.nats_disconnected).store(!connected, std::sync::atomic::Ordering::Relaxed);
            (
                "200 OK",
                format.content_type(),
                state.stats.render(&(state.routes)(), format),
            )
        }
        (true, "/healthz") => match state.stats.health(STALL) {
            Ok(()) => ("200 OK", "text/plain", "ok\n".to_string()),
            Err(why) => ("503 Service Unavailable", "text/plain", format!("{why}\n")),
        },
        (true, "/readyz") => readiness(state),
        (true, _) => ("404 Not Found", "text/plain", "not found\n".to_string()),
        _ => (
            "405 Method Not Allowed",
            "text/plain",
            "GET or HEAD only\n".to_string(),
        ),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
        body.len(),
        if method == "HEAD" { "" } else { body.as_str() }
    );
    sock.write_all(response.as_bytes()).await?;
    sock.shutdown().await
}

/// The value of header `name` (lower case) in a request head, or "".
fn header(head: &str, name: &str) -> String {
    head.lines()
        .skip(1)
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
        .unwrap_or_default()
}
