//! Topic names: validated once, when built or decoded, so every [`Topic`] in memory is valid.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Longest topic name, in UTF-8 bytes.
pub const MAX_TOPIC_BYTES: usize = 128;

/// Every topic error raised while deserializing starts with this, so the codec can tell a bad
/// topic name apart from other malformed input (see [`crate::message::DecodeError`]).
pub(crate) const TOPIC_ERROR_PREFIX: &str = "invalid topic name: ";

/// A gossip topic name: non-empty UTF-8, at most [`MAX_TOPIC_BYTES`] bytes, no control
/// characters.
///
/// Cheap to clone (shared string), ordered by its bytes. Serde: a string, validated on
/// deserialize.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Topic(Arc<str>);

/// Why a string is not a valid [`Topic`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    /// The name is empty.
    #[error("topic name is empty")]
    Empty,
    /// The name is longer than [`MAX_TOPIC_BYTES`].
    #[error("topic name is {len} bytes long, the limit is {MAX_TOPIC_BYTES}")]
    TooLong {
        /// Length of the name in bytes.
        len: usize,
    },
    /// The name contains a control character (newline, NUL, escape, ...).
    #[error("topic name contains a control character")]
    ControlChar,
}

impl Topic {
    /// Validates and wraps a topic name.
    ///
    /// # Errors
    /// [`TopicError`] when the name is empty, too long or contains a control character.
    pub fn new(name: &str) -> Result<Topic, TopicError> {
        if name.is_empty() {
            return Err(TopicError::Empty);
        }
        if name.len() > MAX_TOPIC_BYTES {
            return Err(TopicError::TooLong { len: name.len() });
        }
        if name.chars().any(char::is_control) {
            return Err(TopicError::ControlChar);
        }
        Ok(Topic(Arc::from(name)))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Topic {
    type Err = TopicError;

    fn from_str(s: &str) -> Result<Topic, TopicError> {
        Topic::new(s)
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Topic({:?})", &*self.0)
    }
}

impl Serialize for Topic {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Topic {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Topic, D::Error> {
        deserializer.deserialize_str(TopicVisitor)
    }
}

struct TopicVisitor;

impl Visitor<'_> for TopicVisitor {
    type Value = Topic;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a topic name")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Topic, E> {
        Topic::new(v).map_err(|e| E::custom(format_args!("{TOPIC_ERROR_PREFIX}{e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(Topic::new("chat/general").is_ok());
        assert!(Topic::new("δ-τοπικό 🌍").is_ok());
        assert_eq!(Topic::new(""), Err(TopicError::Empty));
        assert_eq!(Topic::new("a\nb"), Err(TopicError::ControlChar));
        assert_eq!(Topic::new("a\0"), Err(TopicError::ControlChar));
        assert!(Topic::new(&"x".repeat(MAX_TOPIC_BYTES)).is_ok());
        assert_eq!(
            Topic::new(&"x".repeat(MAX_TOPIC_BYTES + 1)),
            Err(TopicError::TooLong { len: 129 })
        );
        // The limit counts bytes, not characters: 43 three-byte characters are 129 bytes.
        assert!(Topic::new(&"€".repeat(43)).is_err());
    }

    #[test]
    fn serde_validates() {
        let t = Topic::new("news").expect("valid");
        assert_eq!(t.to_string(), "news");
        let cfg = bincode::config::standard();
        let bytes = bincode::serde::encode_to_vec("bad\u{7}name", cfg).expect("encode");
        let err = bincode::serde::decode_from_slice::<Topic, _>(&bytes, cfg).expect_err("bell");
        assert!(err.to_string().contains(TOPIC_ERROR_PREFIX), "{err}");
        let bytes = bincode::serde::encode_to_vec(&t, cfg).expect("encode");
        let (back, _) = bincode::serde::decode_from_slice::<Topic, _>(&bytes, cfg).expect("ok");
        assert_eq!(back, t);
    }
}
