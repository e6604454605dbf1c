use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::serde_instant;
use crate::Error;

const MAX_STEPS: usize = 100;
const MAX_SLEEP_SECONDS: f64 = 24.0 * 3600.0;
const MAX_HTTP_TIMEOUT_SECONDS: u64 = 3600;
const HTTP_METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// A named, ordered list of steps that workers execute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Workflow {
    pub id: Uuid,
    pub name: String,
    pub steps: Vec<Step>,
    #[serde(with = "serde_instant")]
    pub created_at: Timestamp,
    #[serde(with = "serde_instant")]
    pub updated_at: Timestamp,
}

/// The body of `POST /workflows` and `PUT /workflows/{id}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewWorkflow {
    pub name: String,
    pub steps: Vec<Step>,
}

/// One step of a workflow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// An HTTP request that succeeds on a 2xx answer.
    Http {
        #[serde(default = "default_method")]
        method: String,
        url: String,
        #[serde(default)]
        headers: BTreeMap<String, String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        body: Option<serde_json::Value>,
        #[serde(default = "default_http_timeout")]
        timeout_seconds: u64,
    },
    /// A pause of `seconds` (fractions allowed).
    Sleep { seconds: f64 },
    /// A line in the worker's log and the step output.
    Log { message: String },
}

fn default_method() -> String {
    "GET".to_string()
}

fn default_http_timeout() -> u64 {
    30
}

impl Step {
    /// The kind as written in the workflow (`http`, `sleep`, `log`).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Http { .. } => "http",
            Self::Sleep { .. } => "sleep",
            Self::Log { .. } => "log",
        }
    }

    fn check(&self, index: usize) -> Result<(), Error> {
        let invalid = |message: String| Error::invalid("steps", format!("steps[{index}]: {message}"));
        match self {
            Self::Http { method, url, timeout_seconds, .. } => {
                if !HTTP_METHODS.contains(&method.as_str()) {
                    return Err(invalid(format!("method must be one of {}", HTTP_METHODS.join(", "))));
                }
                let scheme_ok = url.starts_with("http://") || url.starts_with("https://");
                if !scheme_ok || url.len() <= "https://".len() {
                    return Err(invalid(format!("url {url:?} must be an http:// or https:// URL")));
                }
                if !(1..=MAX_HTTP_TIMEOUT_SECONDS).contains(timeout_seconds) {
                    return Err(invalid(format!("timeout_seconds must be between 1 and {MAX_HTTP_TIMEOUT_SECONDS}")));
                }
            }
            Self::Sleep { seconds } => {
                if !seconds.is_finite() || !(0.0..=MAX_SLEEP_SECONDS).contains(seconds) {
                    return Err(invalid(format!("seconds must be between 0 and {MAX_SLEEP_SECONDS}")));
                }
            }
            Self::Log { .. } => {}
        }
        Ok(())
    }
}

impl NewWorkflow {
    /// Checks the name and every step, and builds the workflow as saved at `now`.
    pub fn into_workflow(self, id: Uuid, created_at: Timestamp, now: Timestamp) -> Result<Workflow, Error> {
        let name_ok = (1..=64).contains(&self.name.len())
            && self.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if !name_ok {
            return Err(Error::invalid("name", format!("workflow name {:?} must match [a-z0-9_-]{{1,64}}", self.name)));
        }
        if self.steps.is_empty() || self.steps.len() > MAX_STEPS {
            return Err(Error::invalid("steps", format!("a workflow has 1 to {MAX_STEPS} steps")));
        }
        for (index, step) in self.steps.iter().enumerate() {
            step.check(index)?;
        }
        Ok(Workflow { id, name: self.name, steps: self.steps, created_at, updated_at: now })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: serde_json::Value) -> Result<Workflow, Error> {
        let new: NewWorkflow = serde_json::from_value(body).map_err(Error::from)?;
        new.into_workflow(Uuid::nil(), Timestamp::UNIX_EPOCH, Timestamp::UNIX_EPOCH)
    }

    #[test]
    fn steps_take_their_documented_defaults() {
        let workflow =
            parse(serde_json::json!({"name": "ping", "steps": [{"kind": "http", "url": "http://x/"}]})).unwrap();
        let Step::Http { method, timeout_seconds, .. } = &workflow.steps[0] else { panic!("not http") };
        assert_eq!((method.as_str(), *timeout_seconds), ("GET", 30));
    }

    #[test]
    fn bad_workflows_are_rejected_with_the_step_named() {
        for (body, needle) in [
            (serde_json::json!({"name": "Bad Name", "steps": [{"kind": "log", "message": "x"}]}), "name"),
            (serde_json::json!({"name": "w", "steps": []}), "1 to 100"),
            (serde_json::json!({"name": "w", "steps": [{"kind": "sleep", "seconds": -1}]}), "steps[0]"),
            (
                serde_json::json!({"name": "w", "steps": [{"kind": "log", "message": "a"}, {"kind": "http", "url": "ftp://x"}]}),
                "steps[1]",
            ),
            (
                serde_json::json!({"name": "w", "steps": [{"kind": "http", "url": "http://x", "method": "BREW"}]}),
                "method",
            ),
        ] {
            let error = parse(body).unwrap_err().to_string();
            assert!(error.contains(needle), "{error}");
        }
        assert!(
            parse(serde_json::json!({"name": "w", "steps": [{"kind": "log", "message": "a", "extra": 1}]})).is_err()
        );
    }
}
