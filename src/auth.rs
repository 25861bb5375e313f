//! Callers and what they may do (SPEC §10): bearer tokens stored by their SHA-256, scopes, and the anonymous
//! caller allowed only on loopback with no tokens configured.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::str::FromStr;

use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A permission a token carries. No scope implies another, except `admin`, which implies every scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// `POST /events`.
    EventsPublish,
    /// Event queries, dead-letter listing, health, WebSocket.
    EventsRead,
    /// Reading triggers and deliveries.
    TriggersRead,
    /// Creating, updating and deleting triggers.
    TriggersWrite,
    /// Pausing, resuming, retrying, redriving and replaying triggers.
    TriggersOperate,
    /// Pausing and resuming sources; redriving and deleting dead letters.
    SourcesOperate,
    /// Registering event schemas.
    SchemasWrite,
    /// `/metrics/prometheus`.
    MetricsRead,
    /// Everything.
    Admin,
}

const ALL_SCOPES: [Scope; 9] = [
    Scope::EventsPublish,
    Scope::EventsRead,
    Scope::TriggersRead,
    Scope::TriggersWrite,
    Scope::TriggersOperate,
    Scope::SourcesOperate,
    Scope::SchemasWrite,
    Scope::MetricsRead,
    Scope::Admin,
];

impl Scope {
    /// The scope as spelled in tokens files and error bodies.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::EventsPublish => "events:publish",
            Scope::EventsRead => "events:read",
            Scope::TriggersRead => "triggers:read",
            Scope::TriggersWrite => "triggers:write",
            Scope::TriggersOperate => "triggers:operate",
            Scope::SourcesOperate => "sources:operate",
            Scope::SchemasWrite => "schemas:write",
            Scope::MetricsRead => "metrics:read",
            Scope::Admin => "admin",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ALL_SCOPES
            .into_iter()
            .find(|scope| scope.as_str() == s)
            .ok_or_else(|| {
                let known: Vec<&str> = ALL_SCOPES.iter().map(|s| s.as_str()).collect();
                format!("unknown scope {s:?} (known: {})", known.join(", "))
            })
    }
}

/// Who is calling, once their token has been checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's subject (`anonymous` for the anonymous caller); recorded as the actor of operator actions.
    pub subject: String,
    scopes: Vec<Scope>,
}

impl Principal {
    /// The caller Herald assumes when anonymous access is on: subject `anonymous` with `admin`.
    pub fn anonymous() -> Principal {
        Principal {
            subject: "anonymous".to_owned(),
            scopes: vec![Scope::Admin],
        }
    }

    /// The scopes the token was given.
    pub fn scopes(&self) -> &[Scope] {
        &self.scopes
    }

    /// True when the caller holds `scope`, directly or through `admin`.
    pub fn has(&self, scope: Scope) -> bool {
        self.scopes
            .iter()
            .any(|s| *s == scope || *s == Scope::Admin)
    }
}

/// Why the token configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TokensError {
    /// The file could not be read or parsed, or an entry is malformed.
    #[error("invalid HERALD_TOKENS_FILE {path}: {message}")]
    File {
        /// The tokens file.
        path: String,
        /// What is wrong, naming the entry.
        message: String,
    },
    /// No tokens, and Herald would listen beyond loopback.
    #[error(
        "refusing to serve on {listen} without tokens: anonymous access is only allowed on a loopback address. \
         Create a token with `herald token create --subject you --scopes admin`, add the printed entry to a file \
         and set HERALD_TOKENS_FILE to its path"
    )]
    AnonymousBeyondLoopback {
        /// The configured listen address.
        listen: SocketAddr,
    },
}

/// The configured tokens, keyed by the SHA-256 of the token (the token itself is never stored).
#[derive(Debug, Clone, Default)]
pub struct TokenRegistry {
    by_hash: HashMap<[u8; 32], Principal>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TokensFile {
    #[serde(default)]
    token: Vec<TokenEntry>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenEntry {
    subject: String,
    scopes: Vec<String>,
    sha256: String,
}

impl TokenRegistry {
    /// Loads a tokens file.
    ///
    /// # Errors
    /// [`TokensError::File`] when the file is unreadable, is not the expected TOML, or an entry has an empty
    /// subject, an unknown scope or a `sha256` that is not 64 hex digits.
    pub fn load(path: &Path) -> Result<TokenRegistry, TokensError> {
        let fail = |message: String| TokensError::File {
            path: path.display().to_string(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
        let file: TokensFile = toml::from_str(&text).map_err(|e| fail(e.to_string()))?;
        let mut by_hash = HashMap::new();
        for (index, entry) in file.token.into_iter().enumerate() {
            let at =
                |msg: String| fail(format!("token #{} ({:?}): {msg}", index + 1, entry.subject));
            if entry.subject.trim().is_empty() {
                return Err(at("subject is empty".into()));
            }
            let scopes = entry
                .scopes
                .iter()
                .map(|s| s.parse::<Scope>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(at)?;
            if scopes.is_empty() {
                return Err(at("scopes is empty".into()));
            }
            let hash: [u8; 32] = hex::decode(entry.sha256.trim())
                .ok()
                .and_then(|bytes| bytes.try_into().ok())
                .ok_or_else(|| at("sha256 must be 64 hex digits".into()))?;
            by_hash.insert(
                hash,
                Principal {
                    subject: entry.subject.clone(),
                    scopes,
                },
            );
        }
        Ok(TokenRegistry { by_hash })
    }

    /// A registry holding the given tokens, for callers that build tokens in code (tests, benchmarks).
    pub fn from_tokens(tokens: &[(&str, &str, &[Scope])]) -> TokenRegistry {
        let by_hash = tokens
            .iter()
            .map(|(token, subject, scopes)| {
                (
                    sha256(token),
                    Principal {
                        subject: (*subject).to_owned(),
                        scopes: scopes.to_vec(),
                    },
                )
            })
            .collect();
        TokenRegistry { by_hash }
    }

    /// True when no token is configured.
    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    /// The caller a bearer token belongs to, if any.
    pub fn authenticate(&self, token: &str) -> Option<&Principal> {
        self.by_hash.get(&sha256(token))
    }
}

/// How requests are authenticated, decided once at start-up.
#[derive(Debug, Clone)]
pub enum AccessPolicy {
    /// No tokens and a loopback listener: every caller is [`Principal::anonymous`].
    Anonymous,
    /// Every request needs a bearer token from the registry.
    Tokens(TokenRegistry),
}

impl AccessPolicy {
    /// Decides the policy for a listener.
    ///
    /// # Errors
    /// [`TokensError::AnonymousBeyondLoopback`] when there are no tokens and `listen` is not loopback.
    pub fn decide(
        registry: TokenRegistry,
        listen: SocketAddr,
    ) -> Result<AccessPolicy, TokensError> {
        if !registry.is_empty() {
            return Ok(AccessPolicy::Tokens(registry));
        }
        if listen.ip().is_loopback() {
            Ok(AccessPolicy::Anonymous)
        } else {
            Err(TokensError::AnonymousBeyondLoopback { listen })
        }
    }
}

/// A new random token and its tokens-file entry, as printed by `herald token create`.
pub struct NewToken {
    /// The token; shown once, never stored.
    pub token: String,
    /// The TOML entry to append to the tokens file.
    pub entry: String,
}

/// Creates a token for `subject` with `scopes`.
///
/// # Errors
/// A message when the subject is empty or a scope is unknown.
pub fn create_token(subject: &str, scopes: &str) -> Result<NewToken, String> {
    let subject = subject.trim();
    if subject.is_empty() {
        return Err("--subject must not be empty".into());
    }
    let scopes: Vec<Scope> = scopes
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    if scopes.is_empty() {
        return Err("--scopes must name at least one scope".into());
    }
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = format!(
        "hrld_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    let scopes: Vec<String> = scopes.iter().map(|s| format!("{:?}", s.as_str())).collect();
    let entry = format!(
        "[[token]]\nsubject = {subject:?}\nscopes = [{}]\nsha256 = \"{}\"\n",
        scopes.join(", "),
        hex::encode(sha256(&token))
    );
    Ok(NewToken { token, entry })
}

fn sha256(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_created_token_authenticates_through_its_printed_entry() {
        let created = create_token("alice", "events:read, triggers:operate").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.toml");
        std::fs::write(&path, &created.entry).unwrap();
        let registry = TokenRegistry::load(&path).unwrap();
        let alice = registry.authenticate(&created.token).unwrap();
        assert_eq!(alice.subject, "alice");
        assert!(alice.has(Scope::EventsRead));
        assert!(alice.has(Scope::TriggersOperate));
        assert!(!alice.has(Scope::EventsPublish));
        assert!(registry.authenticate("hrld_wrong").is_none());
    }

    #[test]
    fn admin_implies_every_scope_and_no_other_scope_implies_another() {
        assert!(ALL_SCOPES.iter().all(|s| Principal::anonymous().has(*s)));
        let writer = Principal {
            subject: "w".into(),
            scopes: vec![Scope::TriggersWrite],
        };
        assert!(!writer.has(Scope::TriggersRead));
    }

    #[test]
    fn unknown_scopes_and_bad_hashes_are_rejected_naming_the_entry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.toml");
        std::fs::write(
            &path,
            "[[token]]\nsubject = \"bob\"\nscopes = [\"events:rite\"]\nsha256 = \"00\"\n",
        )
        .unwrap();
        let err = TokenRegistry::load(&path).unwrap_err().to_string();
        assert!(err.contains("bob") && err.contains("events:rite"), "{err}");
        let hash = "0".repeat(63);
        std::fs::write(
            &path,
            format!("[[token]]\nsubject = \"bob\"\nscopes = [\"admin\"]\nsha256 = \"{hash}\"\n"),
        )
        .unwrap();
        let err = TokenRegistry::load(&path).unwrap_err().to_string();
        assert!(err.contains("64 hex digits"), "{err}");
        assert!(create_token("x", "nope").is_err());
        assert!(create_token(" ", "admin").is_err());
    }

    #[test]
    fn anonymous_access_is_only_allowed_on_loopback_without_tokens() {
        let loopback: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let any: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        assert!(matches!(
            AccessPolicy::decide(TokenRegistry::default(), loopback),
            Ok(AccessPolicy::Anonymous)
        ));
        let err = AccessPolicy::decide(TokenRegistry::default(), any)
            .unwrap_err()
            .to_string();
        assert!(err.contains("herald token create"), "{err}");
        let registry = TokenRegistry::from_tokens(&[("t", "ops", &[Scope::Admin])]);
        assert!(matches!(
            AccessPolicy::decide(registry, any),
            Ok(AccessPolicy::Tokens(_))
        ));
    }
}
