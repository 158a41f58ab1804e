//! The connection to NATS, and the only module that names what exists only
//! in our patched async-nats (`vendor/async-nats/PATCHES.md`): connecting
//! with credentials and TLS, connection events, the round-trip barrier, and
//! the flag the patched client puts on a message it could not parse whole.

use std::time::Duration;

use async_nats::{Client, Event};
use futures::StreamExt;
use tokio::sync::mpsc;

use crate::error::{Error, Result};

/// A connected client plus the connection events the service reports on.
pub struct Connection {
    pub client: Client,
    pub(crate) events: mpsc::Receiver<Event>,
}

impl Connection {
    /// For a client tool (`publish`, `tail`): its connection's events
    /// logged as the service logs its own (a disconnect warned, with what
    /// core NATS loses meanwhile, `lost`; the reconnection said; a slow
    /// consumer's drops warned), and the client to use.
    pub fn logging_events(self, lost: &'static str) -> Client {
        let Connection { client, mut events } = self;
        tokio::spawn(async move {
            let mut down = false;
            while let Some(event) = events.recv().await {
                match event {
                    Event::Disconnected => {
                        down = true;
                        tracing::warn!("disconnected from NATS; reconnecting: {lost}");
                    }
                    Event::Connected if down => {
                        down = false;
                        tracing::info!("reconnected to NATS");
                    }
                    Event::SlowConsumer(sid) => tracing::warn!(
                        "subscription {sid} is a slow consumer: the client dropped messages"
                    ),
                    // (Each failed reconnection attempt is one.)
                    Event::ClientError(e) if down => tracing::debug!("NATS client error: {e}"),
                    Event::ClientError(e) => tracing::warn!("NATS client error: {e}"),
                    _ => {}
                }
            }
        });
        client
    }
}

/// Connects to NATS. Connection events (disconnects, slow-consumer drops)
/// are passed to the service, which counts, logs and reports them. With
/// `retry`, an unreachable server is retried (with back-off) instead of
/// failing at once.
pub async fn connect(url: &str, retry: bool) -> Result<Connection> {
    connect_with(url, &crate::config::NatsAuth::default(), retry).await
}

/// [`connect`] with credentials and TLS settings.
pub async fn connect_with(
    url: &str,
    auth: &crate::config::NatsAuth,
    retry: bool,
) -> Result<Connection> {
    auth.validate()?;
    let (tx, events) = mpsc::channel(1024);
    let mut opts = async_nats::ConnectOptions::new()
        .name("pipeline")
        // Never block the client on a full event queue: drop the event; the
        // counters still move.
        .event_callback(move |event| {
            let tx = tx.clone();
            async move {
                let _ = tx.try_send(event);
            }
        });
    if retry {
        opts = opts.retry_on_initial_connect();
    }
    if let (Some(u), Some(p)) = (&auth.user, &auth.password) {
        opts = opts.user_and_password(u.clone(), p.clone());
    }
    if let Some(t) = &auth.token {
        opts = opts.token(t.clone());
    }
    if let Some(path) = &auth.nkey_seed_file {
        let seed = std::fs::read_to_string(path)
            .map_err(|e| Error::Config(format!("nkey_seed_file {}: {e}", path.display())))?;
        opts = opts.nkey(seed.trim().to_string());
    }
    if let Some(path) = &auth.credentials_file {
        opts = opts
            .credentials_file(path)
            .await
            .map_err(|e| Error::Config(format!("credentials_file {}: {e}", path.display())))?;
    }
    if let Some(ca) = &auth.tls_ca_file {
        opts = opts.add_root_certificates(ca.clone()).require_tls(true);
    }
    if let (Some(cert), Some(key)) = (&auth.tls_cert_file, &auth.tls_key_file) {
        opts = opts.add_client_certificate(cert.clone(), key.clone());
    }
    if auth.tls_required {
        opts = opts.require_tls(true);
    }
    // Several servers may be listed, comma-separated (a cluster's seeds).
    let addrs: Vec<&str> = url
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .collect();
    let client = opts.connect(addrs).await.map_err(|e| {
        let url = crate::config::redact_url(url);
        Error::Nats(format!("cannot connect to {url}: {e}"))
    })?;
    Ok(Connection { client, events })
}

/// Why the client delivered a message although it could not parse it
/// whole. Our async-nats carries a patch (`vendor/async-nats/PATCHES.md`): a
/// subject that is not UTF-8, or a header block that does not parse, used to
/// drop the connection (or panic its task); now such a message arrives with
/// no status and a description naming the reason, so it can be reported
/// like any other bad input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientFlag<'a> {
    /// The subject was not UTF-8 (delivered converted, with U+FFFD).
    SubjectNotUtf8,
    /// The reply subject was not UTF-8: answering would reach someone else.
    ReplyNotUtf8,
    /// The header block did not parse (the reason as the client gives it).
    Headers(&'a str),
}

impl<'a> ClientFlag<'a> {
    /// The reason in words, for error events and replies.
    pub fn reason(&self) -> &'a str {
        match self {
            Self::SubjectNotUtf8 => async_nats::connection::NOT_UTF8_SUBJECT,
            Self::ReplyNotUtf8 => async_nats::connection::NOT_UTF8_REPLY,
            Self::Headers(why) => why,
        }
    }
}

/// The patched client's flag on `msg`, if any.
pub fn client_flag(msg: &async_nats::Message) -> Option<ClientFlag<'_>> {
    if msg.status.is_some() {
        return None;
    }
    let reason = msg
        .description
        .as_deref()?
        .strip_prefix(async_nats::connection::FLAG_PREFIX)?;
    Some(match reason {
        async_nats::connection::NOT_UTF8_SUBJECT => ClientFlag::SubjectNotUtf8,
        async_nats::connection::NOT_UTF8_REPLY => ClientFlag::ReplyNotUtf8,
        other => ClientFlag::Headers(other),
    })
}

/// A round trip through the server on this connection: returns once a
/// message we published to our own inbox has come back, so everything the
/// server sent us before it has been received.
pub async fn barrier(client: &Client) -> std::result::Result<(), String> {
    let inbox = client.new_inbox();
    let mut sub = client
        .subscribe(inbox.clone())
        .await
        .map_err(|e| e.to_string())?;
    client
        .publish(inbox, bytes::Bytes::new())
        .await
        .map_err(|e| e.to_string())?;
    match tokio::time::timeout(Duration::from_secs(5), sub.next()).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err("connection closed".into()),
        Err(_) => Err("no round trip within 5 s".into()),
    }
}

#[cfg(test)]
mod tests {
    /// A WebSocket server URL may name an internationalised host: `url` maps
    /// it to its ASCII form through the IDNA back end `Cargo.toml` picks
    /// (`idna_adapter`); one without Unicode support would refuse it.
    /// (`nats://` is not a scheme the URL standard knows, so its hosts are
    /// kept as written, percent-encoded, whatever the back end.)
    #[test]
    fn international_host_names_parse_to_their_ascii_form() {
        let addr: async_nats::ServerAddr = "ws://Bücher.example:4223"
            .parse()
            .expect("an internationalised host name is a valid server URL");
        assert_eq!(addr.host(), "xn--bcher-kva.example");
        assert_eq!(addr.port(), 4223);
    }
}
