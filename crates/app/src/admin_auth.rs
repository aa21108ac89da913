//! Admin tokens: who may call `/api/admin/*`, with which scope.
//!
//! Tokens come from `EMPORIUM_ADMIN_TOKENS` as `name:scope:token` entries, comma-separated
//! (several at once, so a token can be rotated without downtime), plus the older
//! `EMPORIUM_ADMIN_TOKEN`, which is one `write` token named `admin`. Only a SHA-256 of each
//! token is kept, and a presented token is compared with every one of them in constant
//! time, so neither memory nor timing gives a token away. A token's *name* is what logs and
//! the audit log show; the token itself appears nowhere.

use emporium_domain::model::AdminScope;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The shortest token accepted: 16 characters.
pub const MIN_TOKEN_LENGTH: usize = 16;

/// One configured token.
#[derive(Clone)]
pub struct AdminToken {
    pub name: String,
    pub scope: AdminScope,
    digest: [u8; 32],
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminToken")
            .field("name", &self.name)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Every configured token. Empty: admin routes are off.
#[derive(Debug, Clone, Default)]
pub struct AdminTokens(Vec<AdminToken>);

impl AdminTokens {
    /// From `EMPORIUM_ADMIN_TOKENS` (`name:scope:token,...`) and the single
    /// `EMPORIUM_ADMIN_TOKEN` (a `write` token named `admin`). An entry that does not
    /// parse is an error naming it by position and name, never by token.
    pub fn from_config(list: Option<&str>, single: Option<&str>) -> Result<AdminTokens, String> {
        let mut tokens = Vec::new();
        for (n, entry) in list
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .enumerate()
        {
            let mut parts = entry.splitn(3, ':');
            let (Some(name), Some(scope), Some(token)) = (parts.next(), parts.next(), parts.next())
            else {
                return Err(format!(
                    "EMPORIUM_ADMIN_TOKENS entry {}: expected name:scope:token",
                    n + 1
                ));
            };
            let valid_name = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
            if !valid_name {
                return Err(format!(
                    "EMPORIUM_ADMIN_TOKENS entry {}: the name must be letters, digits, `-`, `_` or `.`",
                    n + 1
                ));
            }
            let scope = AdminScope::parse(scope)
                .map_err(|e| format!("EMPORIUM_ADMIN_TOKENS entry {} ({name}): {e}", n + 1))?;
            tokens.push(Self::token(name, scope, token)?);
        }
        if let Some(token) = single.map(str::trim).filter(|t| !t.is_empty()) {
            tokens.push(Self::token("admin", AdminScope::Write, token)?);
        }
        let mut names: Vec<&str> = tokens.iter().map(|t| t.name.as_str()).collect();
        names.sort_unstable();
        if let Some(pair) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(format!("admin token name `{}` is used twice", pair[0]));
        }
        Ok(AdminTokens(tokens))
    }

    fn token(name: &str, scope: AdminScope, token: &str) -> Result<AdminToken, String> {
        if token.chars().count() < MIN_TOKEN_LENGTH {
            return Err(format!(
                "admin token `{name}` is shorter than {MIN_TOKEN_LENGTH} characters"
            ));
        }
        Ok(AdminToken {
            name: name.to_owned(),
            scope,
            digest: digest(token),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The configured token `presented` is, if any. Every configured token is compared,
    /// in constant time, whichever matches.
    pub fn authenticate(&self, presented: &str) -> Option<&AdminToken> {
        let presented = digest(presented);
        let mut found = None;
        for token in &self.0 {
            if bool::from(token.digest.ct_eq(&presented)) {
                found = Some(token);
            }
        }
        found
    }

    /// Names and scopes, for the startup log.
    pub fn describe(&self) -> String {
        self.0
            .iter()
            .map(|t| format!("{} ({})", t.name, t.scope.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_entries_and_the_single_token() {
        let tokens = AdminTokens::from_config(
            Some("ops:write:0123456789abcdef, viewer:read:fedcba9876543210:with:colons"),
            Some("legacy-token-123456"),
        )
        .unwrap();
        let ops = tokens.authenticate("0123456789abcdef").unwrap();
        assert_eq!((ops.name.as_str(), ops.scope), ("ops", AdminScope::Write));
        let viewer = tokens.authenticate("fedcba9876543210:with:colons").unwrap();
        assert_eq!(
            (viewer.name.as_str(), viewer.scope),
            ("viewer", AdminScope::Read)
        );
        let legacy = tokens.authenticate("legacy-token-123456").unwrap();
        assert_eq!(
            (legacy.name.as_str(), legacy.scope),
            ("admin", AdminScope::Write)
        );
        assert!(tokens.authenticate("0123456789abcdeF").is_none());
        assert!(tokens.authenticate("").is_none());
        assert_eq!(
            tokens.describe(),
            "ops (write), viewer (read), admin (write)"
        );
        assert!(!format!("{tokens:?}").contains("0123456789abcdef"));
        assert!(AdminTokens::from_config(None, None).unwrap().is_empty());
        assert!(AdminTokens::from_config(Some(" , "), Some("  "))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn bad_entries_are_refused_without_showing_the_token() {
        for (list, wanted) in [
            ("ops:write", "expected name:scope:token"),
            ("ops:admin:0123456789abcdef", "scope `admin`"),
            ("op s:read:0123456789abcdef", "the name must be"),
            ("ops:read:short", "shorter than 16"),
            (
                "a:read:0123456789abcdef,a:write:0123456789abcdeg",
                "used twice",
            ),
        ] {
            let error = AdminTokens::from_config(Some(list), None).unwrap_err();
            assert!(error.contains(wanted), "{list}: {error}");
            assert!(!error.contains("0123456789abcdef"), "{error}");
        }
    }

    #[test]
    fn write_includes_read() {
        assert!(AdminScope::Write.allows(AdminScope::Read));
        assert!(AdminScope::Write.allows(AdminScope::Write));
        assert!(AdminScope::Read.allows(AdminScope::Read));
        assert!(!AdminScope::Read.allows(AdminScope::Write));
    }
}
