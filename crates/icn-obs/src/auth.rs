//! Bearer-token protection of the metrics listener.
//!
//! The token is read once, at start-up, from a file: never from a flag or an environment
//! variable, which `ps` and child processes would see. A scraper sends
//! `Authorization: Bearer <token>` (Prometheus: `authorization: { credentials_file: ... }`), and the
//! node compares it in constant time, so the answer time says nothing about how much of a guess
//! was right (only the length of the token is not hidden).

use std::path::Path;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use crate::ObsError;

/// The `WWW-Authenticate` challenge sent with every 401.
const CHALLENGE: &str = "Bearer realm=\"icn-metrics\"";

/// The secret a scraper must present. `Debug` never prints it.
#[derive(Clone)]
pub struct BearerToken {
    secret: Arc<[u8]>,
}

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BearerToken(<redacted>)")
    }
}

impl BearerToken {
    /// Reads the token from `path`: the file's text without its trailing line break.
    ///
    /// Logs a warning when group or others may read the file (it should be `0600` or stricter).
    ///
    /// # Errors
    /// [`ObsError::TokenFile`], naming the file, when it cannot be read, is empty, or holds
    /// characters a client cannot send in a header (anything but visible ASCII).
    pub fn from_file(path: &Path) -> Result<Self, ObsError> {
        let bad = |reason: String| ObsError::TokenFile {
            path: path.to_path_buf(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        warn_if_readable_by_others(path);
        let token = text.trim_end_matches(['\n', '\r']);
        if token.is_empty() {
            return Err(bad("the file is empty".into()));
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(bad(
                "the token must be visible ASCII without spaces or inner line breaks".into(),
            ));
        }
        Ok(Self {
            secret: Arc::from(token.as_bytes()),
        })
    }

    /// Whether an `Authorization` header carries this token (`Bearer` scheme, any case).
    pub fn matches(&self, authorization: Option<&HeaderValue>) -> bool {
        let Some(value) = authorization else {
            return false;
        };
        let bytes = value.as_bytes();
        let Some(space) = bytes.iter().position(|b| *b == b' ') else {
            return false;
        };
        let (scheme, rest) = bytes.split_at(space);
        if !scheme.eq_ignore_ascii_case(b"bearer") {
            return false;
        }
        let start = rest.iter().position(|b| *b != b' ').unwrap_or(rest.len());
        bool::from(rest[start..].ct_eq(&self.secret))
    }
}

/// Middleware: lets the request through only with the right token, otherwise answers 401.
pub(crate) async fn require_token(
    State(token): State<BearerToken>,
    request: Request,
    next: Next,
) -> Response {
    if token.matches(request.headers().get(header::AUTHORIZATION)) {
        next.run(request).await
    } else {
        tracing::debug!(path = %request.uri().path(), "metrics request without a valid token");
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, CHALLENGE)],
            "unauthorized\n",
        )
            .into_response()
    }
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(
                file = %path.display(),
                mode = format_args!("{mode:o}"),
                "the metrics token file is readable by group or others; `chmod 600` it"
            );
        }
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn token_from(text: &str) -> Result<BearerToken, ObsError> {
        let mut file = tempfile::Builder::new()
            .prefix("icn-obs-token-")
            .tempfile()
            .unwrap();
        std::io::Write::write_all(&mut file, text.as_bytes()).unwrap();
        BearerToken::from_file(file.path())
    }

    fn header(text: &str) -> HeaderValue {
        HeaderValue::from_str(text).unwrap()
    }

    #[test]
    fn trailing_line_break_is_trimmed_and_scheme_is_case_insensitive() {
        let token = token_from("s3cret-Token\n").unwrap();
        assert!(token.matches(Some(&header("Bearer s3cret-Token"))));
        assert!(token.matches(Some(&header("bearer s3cret-Token"))));
        assert!(token.matches(Some(&header("BEARER   s3cret-Token"))));
        assert!(!token.matches(Some(&header("Bearer s3cret-Token\t"))));
        assert!(!token.matches(Some(&header("Bearer s3cret-Toke"))));
        assert!(!token.matches(Some(&header("Bearer s3cret-Token2"))));
        assert!(!token.matches(Some(&header("Basic s3cret-Token"))));
        assert!(!token.matches(Some(&header("s3cret-Token"))));
        assert!(!token.matches(None));
        assert!(!format!("{token:?}").contains("s3cret"));
    }

    #[test]
    fn empty_or_unsendable_tokens_are_errors_naming_the_file() {
        for text in ["", "\n", "\r\n", "two words\n", "a\nb\n"] {
            let err = token_from(text).unwrap_err().to_string();
            assert!(err.contains("icn-obs-token-"), "{text:?}: {err}");
        }
        let missing = BearerToken::from_file(Path::new("/nonexistent/icn-token")).unwrap_err();
        assert!(missing.to_string().contains("/nonexistent/icn-token"));
    }
}
