//! `[auth]`: NATS credentials and TLS, and keeping secrets out of logs and
//! printed configs.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// NATS credentials and TLS. Secrets are never logged: `Debug` and the
/// serialised form (`pipeline config check`) mask them.
#[derive(Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NatsAuth {
    /// User name (with `password`). Env: `NATS_USER` (see [`crate::connect`]; old: `PIPELINE_NATS_USER`).
    #[serde(default)]
    pub user: Option<String>,
    /// Password. Env: `NATS_PASSWORD` (see [`crate::connect`]; old: `PIPELINE_NATS_PASSWORD`).
    #[serde(default, serialize_with = "mask")]
    pub password: Option<String>,
    /// Token. Env: `NATS_TOKEN` (see [`crate::connect`]; old: `PIPELINE_NATS_TOKEN`).
    #[serde(default, serialize_with = "mask")]
    pub token: Option<String>,
    /// File holding an NKey seed (`SU…`). Env: `NATS_NKEY` (see [`crate::connect`]; old: `PIPELINE_NATS_NKEY_SEED_FILE`).
    #[serde(default)]
    pub nkey_seed_file: Option<PathBuf>,
    /// A `.creds` file (JWT + seed). Env: `NATS_CREDS` (see [`crate::connect`]; old: `PIPELINE_NATS_CREDS`).
    #[serde(default)]
    pub credentials_file: Option<PathBuf>,
    /// CA certificate(s) to trust (PEM); implies TLS. Env: `NATS_CA` (see [`crate::connect`]; old: `PIPELINE_NATS_TLS_CA`).
    #[serde(default)]
    pub tls_ca_file: Option<PathBuf>,
    /// Client certificate (PEM), with `tls_key_file`. Env: `NATS_CERT` (see [`crate::connect`]; old: `PIPELINE_NATS_TLS_CERT`).
    #[serde(default)]
    pub tls_cert_file: Option<PathBuf>,
    /// Client key (PEM). Env: `NATS_KEY` (see [`crate::connect`]; old: `PIPELINE_NATS_TLS_KEY`).
    #[serde(default)]
    pub tls_key_file: Option<PathBuf>,
    /// Refuse to connect without TLS. Env: `PIPELINE_NATS_TLS_REQUIRED=1`.
    #[serde(default)]
    pub tls_required: bool,
}

/// `nats://user:secret@host` → `nats://***@host` (for logs and printed configs).
pub fn redact_url(url: &str) -> String {
    url.split(',')
        .map(|u| match (u.find("://"), u.rfind('@')) {
            (Some(s), Some(at)) if at > s => format!("{}***{}", &u[..s + 3], &u[at..]),
            (None, Some(at)) => format!("***{}", &u[at..]),
            _ => u.to_string(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

pub(super) fn mask_url<S: serde::Serializer>(
    v: &Option<String>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    match v {
        Some(u) => s.serialize_some(&redact_url(u)),
        None => s.serialize_none(),
    }
}

fn mask<S: serde::Serializer>(v: &Option<String>, s: S) -> std::result::Result<S::Ok, S::Error> {
    match v {
        Some(_) => s.serialize_some("********"),
        None => s.serialize_none(),
    }
}

impl std::fmt::Debug for NatsAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hide = |v: &Option<String>| v.as_ref().map(|_| "********");
        f.debug_struct("NatsAuth")
            .field("user", &self.user)
            .field("password", &hide(&self.password))
            .field("token", &hide(&self.token))
            .field("nkey_seed_file", &self.nkey_seed_file)
            .field("credentials_file", &self.credentials_file)
            .field("tls_ca_file", &self.tls_ca_file)
            .field("tls_cert_file", &self.tls_cert_file)
            .field("tls_key_file", &self.tls_key_file)
            .field("tls_required", &self.tls_required)
            .finish()
    }
}

/// The deprecated `PIPELINE_NATS_*` variables [`NatsAuth::with_env`] reads
/// (no URL among them); any other `PIPELINE_NATS_*` name sets nothing.
pub const LEGACY_ENV: [&str; 9] = [
    "PIPELINE_NATS_USER",
    "PIPELINE_NATS_PASSWORD",
    "PIPELINE_NATS_TOKEN",
    "PIPELINE_NATS_NKEY_SEED_FILE",
    "PIPELINE_NATS_CREDS",
    "PIPELINE_NATS_TLS_CA",
    "PIPELINE_NATS_TLS_CERT",
    "PIPELINE_NATS_TLS_KEY",
    "PIPELINE_NATS_TLS_REQUIRED",
];

impl NatsAuth {
    /// Fills unset fields from the deprecated `PIPELINE_NATS_*` variables
    /// (the `NATS_*` ones are read by [`crate::connect`]).
    pub fn with_env(mut self) -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let [user, password, token, nkey, creds, ca, cert, key, required] = LEGACY_ENV.map(var);
        self.user = self.user.or(user);
        self.password = self.password.or(password);
        self.token = self.token.or(token);
        self.nkey_seed_file = self.nkey_seed_file.or(nkey.map(Into::into));
        self.credentials_file = self.credentials_file.or(creds.map(Into::into));
        self.tls_ca_file = self.tls_ca_file.or(ca.map(Into::into));
        self.tls_cert_file = self.tls_cert_file.or(cert.map(Into::into));
        self.tls_key_file = self.tls_key_file.or(key.map(Into::into));
        self.tls_required |= required.is_some_and(|v| v == "1" || v == "true");
        self
    }

    pub fn validate(&self) -> Result<()> {
        let methods = [
            self.user.is_some() || self.password.is_some(),
            self.token.is_some(),
            self.nkey_seed_file.is_some(),
            self.credentials_file.is_some(),
        ];
        if methods.iter().filter(|m| **m).count() > 1 {
            return Err(Error::Config(
                "auth: choose one of user/password, token, nkey_seed_file, credentials_file".into(),
            ));
        }
        if self.user.is_some() != self.password.is_some() {
            return Err(Error::Config("auth: user and password go together".into()));
        }
        if self.tls_cert_file.is_some() != self.tls_key_file.is_some() {
            return Err(Error::Config(
                "auth: tls_cert_file and tls_key_file go together".into(),
            ));
        }
        Ok(())
    }
}
