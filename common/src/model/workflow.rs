use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::serde_instant;
use crate::{Error, template};

const MAX_STEPS: usize = 100;
const MAX_SLEEP_SECONDS: f64 = 24.0 * 3600.0;
const MAX_HTTP_TIMEOUT_SECONDS: u64 = 3600;
const HTTP_METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];
/// The most of an HTTP answer a step reads by default: the body is cut to 64 KiB.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 64 * 1024;
const MAX_RESPONSE_BYTES: u64 = 1024 * 1024;
const MAX_REDIRECTS: u8 = 10;
const MAX_CONCURRENCY: u32 = 10_000;

/// A named, ordered list of steps that workers execute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Workflow {
    pub id: Uuid,
    pub name: String,
    /// 1 when created, one more on each replacement; an execution records the version it ran.
    #[serde(default = "first_version")]
    #[schema(required = true)]
    pub version: u32,
    /// Runs of this workflow allowed at once across all workers and schedules; `None` for no limit.
    #[serde(default)]
    #[schema(required = true)]
    pub max_concurrency: Option<u32>,
    pub steps: Vec<Step>,
    #[serde(with = "serde_instant")]
    pub created_at: Timestamp,
    #[serde(with = "serde_instant")]
    pub updated_at: Timestamp,
}

fn first_version() -> u32 {
    1
}

/// The body of `POST /workflows` and `PUT /workflows/{id}`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "name": "nightly-report",
    "max_concurrency": 1,
    "steps": [
        {"kind": "http", "name": "report", "method": "POST", "url": "https://reports.example.com/run",
         "body": {"day": "{{ trigger.scheduled_for }}"}, "expect_status": ["2xx"]},
        {"kind": "log", "message": "report answered {{ steps.report.status }}"}
    ]
}))]
pub struct NewWorkflow {
    pub name: String,
    pub steps: Vec<Step>,
    #[serde(default)]
    pub max_concurrency: Option<u32>,
}

/// One step of a workflow. Every string in it (URL, header values, strings in a JSON body, log message,
/// strings in handler input) is a template, rendered as the step starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// An HTTP request that succeeds on an expected status (2xx unless `expect_status` says otherwise).
    Http {
        /// How later steps refer to this one (`steps.<name>`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(default = "default_method")]
        method: String,
        url: String,
        #[serde(default)]
        headers: BTreeMap<String, String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        body: Option<serde_json::Value>,
        #[serde(default = "default_http_timeout")]
        timeout_seconds: u64,
        /// Statuses that count as success: codes (`404`) and inclusive ranges (`"200-299"`, `"2xx"`).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        expect_status: Vec<StatusPattern>,
        /// The most of the answer's body that is read; the rest is left unread and `truncated` is set.
        #[serde(default = "default_max_response_bytes")]
        max_response_bytes: u64,
        /// Redirects followed; 0 returns the 3xx answer itself.
        #[serde(default = "default_max_redirects")]
        max_redirects: u8,
    },
    /// A pause of `seconds` (fractions allowed).
    Sleep {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        seconds: f64,
    },
    /// A line in the worker's log and the step output.
    Log {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        message: String,
    },
    /// A call of the async Rust function registered under `name` in a worker; its name is also how later
    /// steps refer to it.
    Handler {
        name: String,
        #[serde(default)]
        input: serde_json::Value,
    },
}

/// One entry of `expect_status`: a code, or an inclusive range written `"200-299"` or `"2xx"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum StatusPattern {
    Code(u16),
    Range(String),
}

impl StatusPattern {
    /// The inclusive bounds, or why the pattern is not one.
    fn bounds(&self) -> Result<(u16, u16), String> {
        let valid = |code: u16| (100..=599).contains(&code);
        let (low, high) = match self {
            Self::Code(code) => (*code, *code),
            Self::Range(text) => {
                let parsed = match text.strip_suffix("xx").and_then(|digit| digit.parse::<u16>().ok()) {
                    Some(class) => Some((class * 100, class * 100 + 99)),
                    None => text
                        .split_once('-')
                        .and_then(|(low, high)| Some((low.trim().parse().ok()?, high.trim().parse().ok()?))),
                };
                parsed.ok_or_else(|| format!("expect_status entry {text:?} is not a code, \"200-299\" or \"2xx\""))?
            }
        };
        if valid(low) && valid(high) && low <= high {
            Ok((low, high))
        } else {
            Err(format!("expect_status entry {self:?} must lie between 100 and 599"))
        }
    }

    /// Whether `status` matches any of `patterns` (2xx when there are none).
    pub fn expected(patterns: &[Self], status: u16) -> bool {
        if patterns.is_empty() {
            return (200..=299).contains(&status);
        }
        patterns.iter().filter_map(|pattern| pattern.bounds().ok()).any(|(low, high)| (low..=high).contains(&status))
    }
}

fn default_method() -> String {
    "GET".to_string()
}

fn default_http_timeout() -> u64 {
    30
}

fn default_max_response_bytes() -> u64 {
    DEFAULT_MAX_RESPONSE_BYTES
}

fn default_max_redirects() -> u8 {
    5
}

impl Step {
    /// The kind as written in the workflow (`http`, `sleep`, `log`, `handler`).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Http { .. } => "http",
            Self::Sleep { .. } => "sleep",
            Self::Log { .. } => "log",
            Self::Handler { .. } => "handler",
        }
    }

    /// How later steps refer to this one, if it has a name.
    pub fn name(&self) -> Option<&str> {
        match self {
            Self::Http { name, .. } | Self::Sleep { name, .. } | Self::Log { name, .. } => name.as_deref(),
            Self::Handler { name, .. } => Some(name),
        }
    }

    /// Every template string of the step with its field path (`url`, `headers.Authorization`, `body.user.id`),
    /// so that checking at save time and rendering at run time visit the same strings.
    pub fn templates_mut(&mut self) -> Vec<(String, &mut String)> {
        let mut found = Vec::new();
        match self {
            Self::Http { url, headers, body, .. } => {
                found.push(("url".to_string(), url));
                for (header, value) in headers.iter_mut() {
                    found.push((format!("headers.{header}"), value));
                }
                if let Some(body) = body {
                    json_strings(body, "body".to_string(), &mut found);
                }
            }
            Self::Log { message, .. } => found.push(("message".to_string(), message)),
            Self::Handler { input, .. } => json_strings(input, "input".to_string(), &mut found),
            Self::Sleep { .. } => {}
        }
        found
    }

    fn check(&self, index: usize) -> Result<(), Error> {
        let field = format!("steps[{index}]");
        let invalid = |message: String| Error::invalid(field.clone(), format!("steps[{index}]: {message}"));
        if let Some(name) = self.name() {
            let name_ok = (1..=64).contains(&name.len())
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !name_ok {
                return Err(invalid(format!("name {name:?} must match [A-Za-z0-9_-]{{1,64}}")));
            }
        }
        match self {
            Self::Http { method, url, timeout_seconds, expect_status, max_response_bytes, max_redirects, .. } => {
                if !HTTP_METHODS.contains(&method.as_str()) {
                    return Err(invalid(format!("method must be one of {}", HTTP_METHODS.join(", "))));
                }
                // A templated URL is checked when rendered; its scheme must still be written out.
                let scheme_ok = url.starts_with("http://") || url.starts_with("https://");
                if !scheme_ok || url.len() <= "https://".len() {
                    return Err(invalid(format!("url {url:?} must be an http:// or https:// URL")));
                }
                if !(1..=MAX_HTTP_TIMEOUT_SECONDS).contains(timeout_seconds) {
                    return Err(invalid(format!("timeout_seconds must be between 1 and {MAX_HTTP_TIMEOUT_SECONDS}")));
                }
                for pattern in expect_status {
                    pattern.bounds().map_err(&invalid)?;
                }
                if !(1..=MAX_RESPONSE_BYTES).contains(max_response_bytes) {
                    return Err(invalid(format!("max_response_bytes must be between 1 and {MAX_RESPONSE_BYTES}")));
                }
                if *max_redirects > MAX_REDIRECTS {
                    return Err(invalid(format!("max_redirects must be between 0 and {MAX_REDIRECTS}")));
                }
            }
            Self::Sleep { seconds, .. } => {
                if !seconds.is_finite() || !(0.0..=MAX_SLEEP_SECONDS).contains(seconds) {
                    return Err(invalid(format!("seconds must be between 0 and {MAX_SLEEP_SECONDS}")));
                }
            }
            Self::Log { .. } | Self::Handler { .. } => {}
        }
        for (path, text) in self.clone().templates_mut() {
            if let Err(error) = template::check(text) {
                return Err(Error::invalid_as(
                    "invalid_template",
                    format!("steps[{index}].{path}"),
                    format!("steps[{index}].{path} is not a valid template: {error}"),
                ));
            }
        }
        Ok(())
    }
}

/// Collects the strings inside a JSON value with their paths.
fn json_strings<'a>(value: &'a mut serde_json::Value, path: String, found: &mut Vec<(String, &'a mut String)>) {
    match value {
        serde_json::Value::String(text) => found.push((path, text)),
        serde_json::Value::Array(items) => {
            for (index, item) in items.iter_mut().enumerate() {
                json_strings(item, format!("{path}[{index}]"), found);
            }
        }
        serde_json::Value::Object(fields) => {
            for (key, item) in fields.iter_mut() {
                json_strings(item, format!("{path}.{key}"), found);
            }
        }
        _ => {}
    }
}

impl Workflow {
    /// The handler names the steps call, in step order without repeats.
    pub fn handlers(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for step in &self.steps {
            if let Step::Handler { name, .. } = step
                && !names.contains(&name.as_str())
            {
                names.push(name);
            }
        }
        names
    }
}

impl NewWorkflow {
    /// Checks the name and every step, and builds version `version` of the workflow as saved at `now`.
    pub fn into_workflow(
        self,
        id: Uuid,
        version: u32,
        created_at: Timestamp,
        now: Timestamp,
    ) -> Result<Workflow, Error> {
        let name_ok = (1..=64).contains(&self.name.len())
            && self.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if !name_ok {
            return Err(Error::invalid("name", format!("workflow name {:?} must match [a-z0-9_-]{{1,64}}", self.name)));
        }
        // Where a workflow is named by its name or its id (the CLI), a name of an id's form would read as one.
        if Uuid::parse_str(&self.name).is_ok() {
            return Err(Error::invalid(
                "name",
                format!("workflow name {:?} has the form of a UUID, an id's", self.name),
            ));
        }
        if self.steps.is_empty() || self.steps.len() > MAX_STEPS {
            return Err(Error::invalid("steps", format!("a workflow has 1 to {MAX_STEPS} steps")));
        }
        if let Some(limit) = self.max_concurrency
            && !(1..=MAX_CONCURRENCY).contains(&limit)
        {
            return Err(Error::invalid(
                "max_concurrency",
                format!("max_concurrency must be between 1 and {MAX_CONCURRENCY}"),
            ));
        }
        for (index, step) in self.steps.iter().enumerate() {
            step.check(index)?;
        }
        Ok(Workflow {
            id,
            name: self.name,
            version,
            max_concurrency: self.max_concurrency,
            steps: self.steps,
            created_at,
            updated_at: now,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: serde_json::Value) -> Result<Workflow, Error> {
        let new: NewWorkflow = serde_json::from_value(body).map_err(Error::from)?;
        new.into_workflow(Uuid::nil(), 1, Timestamp::UNIX_EPOCH, Timestamp::UNIX_EPOCH)
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
            (
                serde_json::json!({"name": "01a24261-9354-7295-989c-18aef579bdcc", "steps": [{"kind": "log", "message": "x"}]}),
                "has the form of a UUID",
            ),
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

    #[test]
    fn template_syntax_is_checked_at_save_with_the_step_and_field_named() {
        let body = serde_json::json!({"name": "w", "steps": [
            {"kind": "log", "message": "{{ trigger.timestamp }}"},
            {"kind": "http", "method": "POST", "url": "http://x/", "body": {"items": [{"id": "{{ steps[0].output"}]}},
        ]});
        match parse(body) {
            Err(Error::Invalid { code, field, message }) => {
                assert_eq!((code, field.as_deref()), ("invalid_template", Some("steps[1].body.items[0].id")));
                assert!(message.contains("syntax error"), "{message}");
            }
            other => panic!("expected invalid_template, got {other:?}"),
        }
    }

    #[test]
    fn expected_statuses_take_codes_and_ranges_and_default_to_2xx() {
        let patterns: Vec<StatusPattern> = serde_json::from_value(serde_json::json!([404, "200-204", "3xx"])).unwrap();
        for (status, expected) in [(404, true), (204, true), (205, false), (301, true), (500, false)] {
            assert_eq!(StatusPattern::expected(&patterns, status), expected, "{status}");
        }
        assert!(StatusPattern::expected(&[], 299) && !StatusPattern::expected(&[], 302));
        let bad = serde_json::json!({"name": "w", "steps": [{"kind": "http", "url": "http://x/", "expect_status": ["299-200"]}]});
        assert!(parse(bad).unwrap_err().to_string().contains("expect_status"));
    }
}
