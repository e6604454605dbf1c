use std::fmt;

use serde::{Deserialize, Serialize};

use crate::Error;

/// A queue name: `[a-z0-9_-]{1,64}`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, pattern = "^[a-z0-9_-]{1,64}$", example = "default")]
pub struct QueueName(String);

impl QueueName {
    /// Checks `name` against the queue name rule.
    pub fn parse(name: &str) -> Result<Self, Error> {
        let valid = (1..=64).contains(&name.len())
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if valid {
            Ok(Self(name.to_string()))
        } else {
            Err(Error::invalid("queue", format!("queue {name:?} must match [a-z0-9_-]{{1,64}}")))
        }
    }

    /// A name read back from Redis, where it was checked when it was written.
    pub(crate) fn stored(name: String) -> Self {
        Self(name)
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A name used only to render key patterns for the documentation.
    pub(crate) fn placeholder() -> Self {
        Self("queue-placeholder".to_string())
    }
}

impl Default for QueueName {
    fn default() -> Self {
        Self("default".to_string())
    }
}

impl fmt::Display for QueueName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for QueueName {
    type Error = Error;
    fn try_from(name: String) -> Result<Self, Error> {
        Self::parse(&name)
    }
}

impl From<QueueName> for String {
    fn from(name: QueueName) -> Self {
        name.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_names_follow_the_documented_pattern() {
        assert!(QueueName::parse("emails_2-eu").is_ok());
        assert!(QueueName::parse(&"q".repeat(64)).is_ok());
        for bad in ["", "Upper", "with space", "dot.ted", &"q".repeat(65)] {
            assert!(QueueName::parse(bad).is_err(), "{bad:?}");
        }
    }
}
