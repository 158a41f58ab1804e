//! Where and how every subcommand connects, resolved one way: flags, then
//! the environment the `nats` CLI and the official clients read (`NATS_URL`,
//! `NATS_USER`, `NATS_CREDS`, …; clap fills both into [`ConnectFlags`]),
//! then a `nats` CLI context (`--context NAME`, or the one `nats context
//! select` chose), then the config file's `nats` and `[auth]`, then defaults.
//!
//! Credentials are taken whole from the first source that gives any (a
//! token from a flag must not be combined with a password from the config
//! file); TLS settings are taken field by field.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::config::{NatsAuth, defaults};
use crate::error::{Error, Result};

/// What the command line (and, through clap, the environment) gave.
#[derive(Debug, Clone, Default)]
pub struct ConnectFlags {
    pub url: Option<String>,
    pub context: Option<String>,
    pub user: Option<String>,
    pub password: Option<String>,
    pub token: Option<String>,
    pub creds: Option<PathBuf>,
    pub nkey: Option<PathBuf>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub tls_ca: Option<PathBuf>,
}

/// The fields of a `nats` CLI context file that matter here.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct NatsContext {
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub user: String,
    #[serde(default)]
    pub password: String,
    #[serde(default)]
    pub token: String,
    #[serde(default)]
    pub creds: String,
    #[serde(default)]
    pub nkey: String,
    #[serde(default)]
    pub cert: String,
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub ca: String,
}

/// `$XDG_CONFIG_HOME/nats` or `~/.config/nats`, where the `nats` CLI keeps
/// its contexts.
fn nats_config_dir() -> Option<PathBuf> {
    let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    var("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".config")))
        .map(|d| d.join("nats"))
}

/// Loads context `name`, or the selected one (`nats context select`) when
/// no name is given and one is selected. `None`: no context applies.
pub fn load_context(name: Option<&str>) -> Result<Option<(String, NatsContext)>> {
    let Some(dir) = nats_config_dir() else {
        return match name {
            Some(n) => Err(Error::Config(format!(
                "nats context {n:?}: no HOME or XDG_CONFIG_HOME to find it in"
            ))),
            None => Ok(None),
        };
    };
    let name = match name {
        Some(n) => n.to_string(),
        None => match std::fs::read_to_string(dir.join("context.txt")) {
            Ok(s) if !s.trim().is_empty() => s.trim().to_string(),
            _ => return Ok(None),
        },
    };
    let path = dir.join("context").join(format!("{name}.json"));
    read_context(&path).map(|c| Some((name, c)))
}

fn read_context(path: &Path) -> Result<NatsContext> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Config(format!("nats context {}: {e}", path.display())))?;
    serde_json::from_str(&text)
        .map_err(|e| Error::Config(format!("nats context {}: {e}", path.display())))
}

fn nonempty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

/// The credentials part of an auth (one method).
fn has_credentials(a: &NatsAuth) -> bool {
    a.user.is_some()
        || a.password.is_some()
        || a.token.is_some()
        || a.nkey_seed_file.is_some()
        || a.credentials_file.is_some()
}

fn take_credentials(into: &mut NatsAuth, from: &NatsAuth) {
    into.user = from.user.clone();
    into.password = from.password.clone();
    into.token = from.token.clone();
    into.nkey_seed_file = from.nkey_seed_file.clone();
    into.credentials_file = from.credentials_file.clone();
}

/// The old `PIPELINE_NATS_*` variables, still read, with a warning.
fn legacy_env() -> NatsAuth {
    let old = NatsAuth::default().with_env();
    if old != NatsAuth::default() {
        tracing::warn!(
            "PIPELINE_NATS_* variables are deprecated: use NATS_USER, NATS_PASSWORD, NATS_TOKEN, \
             NATS_CREDS, NATS_NKEY, NATS_CERT, NATS_KEY, NATS_CA (as the nats CLI does)"
        );
    }
    old
}

/// The URL and auth to connect with, and a line saying where they came
/// from (for the log; no secrets in it).
pub fn resolve(
    flags: &ConnectFlags,
    config_url: Option<&str>,
    config_auth: &NatsAuth,
) -> Result<(String, NatsAuth, String)> {
    let context = load_context(flags.context.as_deref())?;
    Ok(resolve_from(
        flags,
        context,
        legacy_env(),
        config_url,
        config_auth,
    ))
}

/// [`resolve`] with the context and the legacy variables already read.
fn resolve_from(
    flags: &ConnectFlags,
    context: Option<(String, NatsContext)>,
    legacy: NatsAuth,
    config_url: Option<&str>,
    config_auth: &NatsAuth,
) -> (String, NatsAuth, String) {
    let (ctx_name, ctx) = match &context {
        Some((n, c)) => (Some(n.as_str()), c.clone()),
        None => (None, NatsContext::default()),
    };
    let from_flags = NatsAuth {
        user: flags.user.clone(),
        password: flags.password.clone(),
        token: flags.token.clone(),
        nkey_seed_file: flags.nkey.clone(),
        credentials_file: flags.creds.clone(),
        tls_ca_file: flags.tls_ca.clone(),
        tls_cert_file: flags.tls_cert.clone(),
        tls_key_file: flags.tls_key.clone(),
        tls_required: false,
    };
    let from_context = NatsAuth {
        user: nonempty(&ctx.user),
        password: nonempty(&ctx.password),
        token: nonempty(&ctx.token),
        nkey_seed_file: nonempty(&ctx.nkey).map(Into::into),
        credentials_file: nonempty(&ctx.creds).map(Into::into),
        tls_ca_file: nonempty(&ctx.ca).map(Into::into),
        tls_cert_file: nonempty(&ctx.cert).map(Into::into),
        tls_key_file: nonempty(&ctx.key).map(Into::into),
        tls_required: false,
    };
    let sources = [
        ("flags or NATS_* environment", from_flags),
        ("PIPELINE_NATS_* environment", legacy),
        ("nats context", from_context),
        ("config file", config_auth.clone()),
    ];
    let mut auth = NatsAuth::default();
    let mut credentials_from = "none";
    for (what, source) in &sources {
        if credentials_from == "none" && has_credentials(source) {
            take_credentials(&mut auth, source);
            credentials_from = what;
        }
        auth.tls_ca_file = auth.tls_ca_file.take().or(source.tls_ca_file.clone());
        if auth.tls_cert_file.is_none() && auth.tls_key_file.is_none() {
            auth.tls_cert_file = source.tls_cert_file.clone();
            auth.tls_key_file = source.tls_key_file.clone();
        }
        auth.tls_required |= source.tls_required;
    }
    let (url, url_from) = match (&flags.url, nonempty(&ctx.url), config_url) {
        (Some(u), _, _) => (u.clone(), "flag or NATS_URL"),
        (None, Some(u), _) => (u, "nats context"),
        (None, None, Some(u)) => (u.to_string(), "config file"),
        (None, None, None) => (defaults::NATS_URL.to_string(), "default"),
    };
    let context_note = ctx_name
        .map(|n| format!(", context {n:?}"))
        .unwrap_or_default();
    let origin = format!("url from {url_from}, credentials from {credentials_from}{context_note}");
    (url, auth, origin)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags() -> ConnectFlags {
        ConnectFlags::default()
    }

    /// Flags beat the config; credentials come whole from one source.
    #[test]
    fn flags_beat_the_config_and_credentials_are_not_mixed() {
        let config = NatsAuth {
            user: Some("cfg-user".into()),
            password: Some("cfg-pass".into()),
            tls_ca_file: Some("/cfg/ca.pem".into()),
            ..Default::default()
        };
        let f = ConnectFlags {
            token: Some("t0k".into()),
            ..flags()
        };
        let none = NatsAuth::default();
        let (url, auth, origin) =
            resolve_from(&f, None, none.clone(), Some("nats://cfg:4222"), &config);
        assert_eq!(url, "nats://cfg:4222");
        assert_eq!(auth.token.as_deref(), Some("t0k"));
        assert_eq!((auth.user, auth.password), (None, None), "not mixed");
        assert_eq!(auth.tls_ca_file, Some("/cfg/ca.pem".into()), "TLS by field");
        assert!(origin.contains("credentials from flags"), "{origin}");
        assert!(!origin.contains("t0k"), "no secrets in {origin}");
        // Nothing anywhere: the defaults.
        let (url, auth, _) = resolve_from(&flags(), None, none.clone(), None, &none);
        assert_eq!(url, defaults::NATS_URL);
        assert_eq!(auth, none);
        // A context sits between the environment and the config file.
        let ctx = NatsContext {
            url: "nats://ctx:4222".into(),
            token: "ctx-token".into(),
            ..Default::default()
        };
        let (url, auth, origin) = resolve_from(
            &flags(),
            Some(("prod".into(), ctx.clone())),
            none.clone(),
            Some("nats://cfg:4222"),
            &config,
        );
        assert_eq!(url, "nats://ctx:4222");
        assert_eq!(auth.token.as_deref(), Some("ctx-token"));
        assert_eq!(auth.user, None);
        assert!(origin.contains("context \"prod\""), "{origin}");
        // The old variables come before a context.
        let legacy = NatsAuth {
            user: Some("old".into()),
            password: Some("pw".into()),
            ..Default::default()
        };
        let (_, auth, _) =
            resolve_from(&flags(), Some(("prod".into(), ctx)), legacy, None, &config);
        assert_eq!(auth.user.as_deref(), Some("old"));
        assert_eq!(auth.token, None);
    }

    /// A `nats` CLI context file: its fields, as that CLI writes them.
    #[test]
    fn context_files_are_read_as_the_nats_cli_writes_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("prod.json");
        std::fs::write(
            &path,
            r#"{"description":"","url":"nats://a:4222,nats://b:4222","token":"","user":"u",
               "password":"p","creds":"","nkey":"","cert":"","key":"","ca":"/etc/ca.pem",
               "nsc":"","jetstream_domain":"","inbox_prefix":""}"#,
        )
        .unwrap();
        let c = read_context(&path).unwrap();
        assert_eq!(c.url, "nats://a:4222,nats://b:4222");
        assert_eq!((c.user.as_str(), c.password.as_str()), ("u", "p"));
        assert_eq!(c.ca, "/etc/ca.pem");
        std::fs::write(&path, "{not json").unwrap();
        let e = read_context(&path).unwrap_err().to_string();
        assert!(e.contains("prod.json"), "{e}");
    }
}
