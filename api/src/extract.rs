//! Extractors that answer every malformed request with the API's error envelope, naming the field.

use axum::{
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Path, Query, RawPathParams, Request},
    http::{StatusCode, header::CONTENT_TYPE, request::Parts},
};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A JSON body: another content type is 415; unknown, missing and ill-typed fields are 400 with the field
/// named; over 1 MiB is 413.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let content_type = request.headers().get(CONTENT_TYPE).and_then(|value| value.to_str().ok());
        if !content_type.is_some_and(is_json) {
            // A form or text/plain body is what a cross-site page can send without asking.
            return Err(ApiError::unsupported_media_type());
        }
        let bytes = Bytes::from_request(request, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::too_large(MAX_BODY_BYTES)
            } else {
                ApiError::validation(rejection.body_text(), None)
            }
        })?;
        let mut deserializer = serde_json::Deserializer::from_slice(&bytes);
        let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
            let path = error.path().to_string();
            let message = error.inner().to_string();
            // A body that is not JSON (cut short, say) is no one field's fault, whatever the parser reached.
            if error.inner().is_syntax() || error.inner().is_eof() {
                return ApiError::validation(format!("malformed JSON: {message}"), None);
            }
            // Every body is an object; serde would read another value's elements as fields in order.
            if let Some(kind) = not_an_object(&bytes) {
                return ApiError::validation(format!("the request body must be a JSON object, not {kind}"), None);
            }
            let message = without_position(&message);
            match unknown(message) {
                // The path names the unknown field in a struct (`items[0].bogus`), or its parent: `.` at the top,
                // `steps[0]` in a tagged step.
                Some((Unknown::Field, name, known)) => {
                    let field = match path.as_str() {
                        "." => name.to_string(),
                        path if path == name || path.ends_with(&format!(".{name}")) => path.to_string(),
                        path => format!("{path}.{name}"),
                    };
                    return ApiError::validation(format!("unknown field {field}; known: {known}"), Some(field));
                }
                Some((Unknown::Variant, given, known)) => {
                    return ApiError::validation(format!("{path} must be one of {known}, not {given:?}"), Some(path));
                }
                None if path == "." => return ApiError::validation(message, quoted_name(message)),
                None => {}
            }
            // What the field takes (`items[2].start_at` takes what `start_at` does) and what it was given; else
            // serde's and jiff's words after what it takes.
            let leaf = path.rsplit(['.', '[']).next().unwrap_or(&path);
            let wrong = wrong_type(message);
            let takes = what_it_takes(leaf).or_else(|| wrong.as_ref().and_then(|(expected, _)| *expected));
            let message = match (takes, wrong) {
                (Some(takes), Some((_, given))) => format!("{path} must be {takes}, not {given}"),
                (Some(takes), None) => format!("{path} must be {takes}: {message}"),
                (None, _) => message.to_string(),
            };
            ApiError::validation(message, Some(path))
        })?;
        deserializer.end().map_err(|error| ApiError::validation(format!("malformed JSON: {error}"), None))?;
        Ok(Self(value))
    }
}

/// What a JSON body that is not an object is, from its first character: none for an object.
fn not_an_object(body: &[u8]) -> Option<&'static str> {
    match body.iter().find(|byte| !byte.is_ascii_whitespace())? {
        b'{' => None,
        b'[' => Some("an array (a batch request takes {\"items\": [...]})"),
        b'"' => Some("a string"),
        b't' | b'f' => Some("a boolean"),
        b'n' => Some("null"),
        _ => Some("a number"),
    }
}

/// Whether a `Content-Type` is JSON: `application/json` or `application/<something>+json`, with parameters.
fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Query parameters: unknown and ill-typed parameters are 400, the message saying what the parameter takes.
pub struct QueryParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Query(value) = Query::<T>::from_request_parts(parts, state).await.map_err(|rejection| {
            let given = Query::<Vec<(String, String)>>::try_from_uri(&parts.uri).map(|Query(pairs)| pairs);
            let (message, field) = query_error(&rejection.body_text(), &given.unwrap_or_default());
            ApiError::validation(message, field)
        })?;
        Ok(Self(value))
    }
}

/// The message and parameter of a query string serde refused, from its message ("Failed to deserialize
/// query string: limit: invalid digit found in string") and the parameters given.
fn query_error(serde_message: &str, given: &[(String, String)]) -> (String, Option<String>) {
    let detail = serde_message.rsplit_once("query string: ").map_or(serde_message, |(_, detail)| detail);
    // "limit: invalid digit ..." names the parameter before the colon; an unknown one is also in backticks.
    let named =
        detail.split_once(": ").filter(|(name, _)| name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
    let Some((name, reason)) = named else {
        return (detail.to_string(), quoted_name(detail));
    };
    let given = given.iter().find(|(key, _)| key == name).map(|(_, value)| value);
    let message = match (unknown(reason), what_it_takes(name), given) {
        (Some((Unknown::Field, _, known)), ..) => format!("unknown query parameter {name}; known: {known}"),
        (Some((Unknown::Variant, given, known)), ..) => format!("{name} must be one of {known}, not {given:?}"),
        (None, Some(takes), Some(given)) => format!("{name} must be {takes}, not {given:?}"),
        _ => format!("{name}: {}", reason.replace('`', "")),
    };
    (message, Some(name.to_string()))
}

/// serde's "invalid type: integer `5`, expected a string", in JSON's words: what the field takes (when serde's
/// expectation is a plain JSON type) and what it was given (`5`, `"x"`, `an array`).
fn wrong_type(message: &str) -> Option<(Option<&'static str>, String)> {
    let (given, expected) = message.strip_prefix("invalid type: ")?.split_once(", expected ")?;
    let expected = match expected {
        "a map" | "a JSON object" => Some("a JSON object"),
        "a sequence" => Some("an array"),
        "a string" => Some("a string"),
        "a boolean" => Some("true or false"),
        "u8" | "u16" | "u32" | "u64" | "usize" | "i32" | "i64" => Some("a whole number"),
        "f32" | "f64" => Some("a number"),
        expected if expected.starts_with("struct ") => Some("a JSON object"),
        _ => None,
    };
    let given = match given {
        "sequence" => "an array".to_string(),
        "map" => "an object".to_string(),
        "null" | "unit value" => "null".to_string(),
        // boolean `true`, integer `5`, floating point `1.5`: the value; string "x": the string, quoted.
        given => match (given.find('`'), given.strip_prefix("string ")) {
            (_, Some(quoted)) => quoted.to_string(),
            (Some(tick), None) => given[tick..].trim_matches('`').to_string(),
            (None, None) => given.to_string(),
        },
    };
    Some((expected, given))
}

enum Unknown {
    Field,
    Variant,
}

/// serde's refusal of a name it does not know ("unknown field `x`, expected `a` or `b`") or of a value that
/// is none of a choice ("unknown variant `x`, expected one of ..."): which, what was given, and what is known,
/// listed plainly.
fn unknown(reason: &str) -> Option<(Unknown, &str, String)> {
    let (kind, rest) = match reason.strip_prefix("unknown field `") {
        Some(rest) => (Unknown::Field, rest),
        None => (Unknown::Variant, reason.strip_prefix("unknown variant `")?),
    };
    let (given, expected) = rest.split_once("`, expected ")?;
    // serde lists what it expected as "`a`", "`a` or `b`" or "one of `a`, `b`, `c`".
    Some((kind, given, expected.trim_start_matches("one of ").replace(" or ", ", ").replace('`', "")))
}

/// serde_json's message without the " at line 1 column 8" it ends with: a request body is one line of JSON
/// more often than not, and the field is named.
fn without_position(message: &str) -> &str {
    match message.rsplit_once(" at line ") {
        Some((text, position)) if position.split(" column ").all(|n| n.bytes().all(|b| b.is_ascii_digit())) => text,
        _ => message,
    }
}

/// What a field or query parameter of this name takes, for the message that refuses a value of another type.
fn what_it_takes(name: &str) -> Option<&'static str> {
    match name {
        "limit" | "count" | "repeat_count" | "total_repeats" | "retry_max" | "max_retries" | "max_concurrency" => {
            Some("a whole number")
        }
        name if name.ends_with("_seconds") => Some("a whole number"),
        "since" | "from" | "to" => Some("an RFC 3339 instant such as 2026-12-04T09:00:00Z"),
        name if name.ends_with("_at") => Some("an RFC 3339 instant such as 2026-12-04T09:00:00Z"),
        "workflow_id" | "schedule_id" => Some("a UUID"),
        "count_as_failure" => Some("true or false"),
        _ => None,
    }
}

/// A path id: one that cannot be parsed names nothing, so it is 404, saying which part is not an id.
pub struct PathId<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for PathId<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(Self(value)),
            Err(_) => {
                let params = RawPathParams::from_request_parts(parts, state).await.ok();
                let params = params.iter().flatten().map(|(name, value)| (name.to_string(), value.to_string()));
                Err(ApiError::not_found(not_a_path_id(parts.uri.path(), params)))
            }
        }
    }
}

/// Why nothing is at `path`: the first of its `params` that is not what it takes, by name.
fn not_a_path_id(path: &str, params: impl IntoIterator<Item = (String, String)>) -> String {
    let unfit = params.into_iter().find_map(|(name, value)| match name.as_str() {
        "id" if uuid::Uuid::parse_str(&value).is_err() => Some((name, format!("{value:?} is not an id (a UUID)"))),
        "version" if value.parse::<u32>().is_err() => {
            Some((name, format!("{value:?} is not a version (a whole number)")))
        }
        _ => None,
    });
    // A schedule or workflow has a name too; the listings find one by it.
    let by_name = match (path.split('/').nth(1), &unfit) {
        (Some(listing @ ("schedules" | "workflows")), Some((name, _))) if name == "id" => {
            format!("; GET /{listing}?name= finds one by name")
        }
        _ => String::new(),
    };
    match unfit {
        Some((_, why)) => format!("nothing at {path}: {why}{by_name}"),
        None => format!("nothing at {path}"),
    }
}

/// The first name in backticks of a serde message ("unknown field `foo`, expected ...").
fn quoted_name(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let length = message[start..].find('`')?;
    Some(message[start..start + length].to_string())
}

/// The body of a bulk request: `{"items": [...]}`, each item what the single request takes. A body that does
/// not parse is refused naming the first bad field (`items[3].interval_seconds`); items that parse but cannot
/// be accepted are listed together by the store.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkBody<T> {
    /// 1 to 1,000 items.
    pub items: Vec<T>,
}

/// The paging parameters of a listing without filters.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items a page holds at most: 1 to 500, 50 by default.
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// `limit` of a listing: 1..=500, default 50.
pub fn page_limit(limit: Option<usize>) -> Result<usize, ApiError> {
    match limit.unwrap_or(50) {
        limit @ 1..=500 => Ok(limit),
        _ => Err(ApiError::validation("limit must be between 1 and 500", Some("limit".to_string()))),
    }
}

#[cfg(test)]
mod tests {
    use axum::{
        extract::{FromRequest, Query},
        http::header::CONTENT_TYPE,
        response::IntoResponse,
    };

    use super::{JsonBody, not_a_path_id, not_an_object, query_error};

    #[test]
    fn a_body_that_is_not_an_object_is_named_by_its_first_character() {
        assert_eq!(not_an_object(b"  {\"items\": []}"), None);
        assert!(not_an_object(b"\n [{\"interval_seconds\": 5}]").is_some_and(|kind| kind.contains("{\"items\"")));
        assert_eq!(not_an_object(b"\"x\""), Some("a string"));
        assert_eq!(not_an_object(b"true"), Some("a boolean"));
        assert_eq!(not_an_object(b"null"), Some("null"));
        assert_eq!(not_an_object(b"-1"), Some("a number"));
    }

    /// The message and field of the 400 a JSON `body` is refused with as a `T`.
    async fn refused_body<T: serde::de::DeserializeOwned>(body: &str) -> (String, serde_json::Value) {
        let request = axum::http::Request::post("/x")
            .header(CONTENT_TYPE, "application/json")
            .body(axum::body::Body::from(body.to_string()))
            .unwrap();
        let Err(error) = JsonBody::<T>::from_request(request, &()).await else { panic!("{body} was taken") };
        let answer = axum::body::to_bytes(error.into_response().into_body(), usize::MAX).await.unwrap();
        let answer: serde_json::Value = serde_json::from_slice(&answer).unwrap();
        (answer["error"]["message"].as_str().unwrap().to_string(), answer["error"]["field"].clone())
    }

    #[tokio::test]
    async fn a_refused_body_field_is_named_with_what_is_known_without_serde_positions() {
        #[derive(serde::Deserialize)]
        #[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
        #[allow(dead_code)]
        enum Step {
            Log { message: String },
            Sleep { seconds: u64 },
        }
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Item {
            name: String,
            steps: Vec<Step>,
        }
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Batch {
            items: Vec<Item>,
        }
        assert_eq!(
            refused_body::<Item>(r#"{"name": "a", "bogus": 1}"#).await,
            ("unknown field bogus; known: name, steps".to_string(), "bogus".into())
        );
        assert_eq!(
            refused_body::<Batch>(r#"{"items": [{"name": "a", "steps": [], "bogus": 1}]}"#).await,
            ("unknown field items[0].bogus; known: name, steps".to_string(), "items[0].bogus".into())
        );
        assert_eq!(
            refused_body::<Item>(r#"{"name": "a", "steps": [{"kind": "log", "message": "m", "bogus": 1}]}"#).await,
            ("unknown field steps[0].bogus; known: message".to_string(), "steps[0].bogus".into())
        );
        assert_eq!(
            refused_body::<Item>(r#"{"name": "a", "steps": [{"kind": "teleport"}]}"#).await,
            ("steps[0].kind must be one of log, sleep, not \"teleport\"".to_string(), "steps[0].kind".into())
        );
    }

    #[tokio::test]
    async fn a_body_field_of_the_wrong_type_says_what_it_takes_and_what_it_was_given() {
        #[derive(serde::Deserialize)]
        #[allow(dead_code)]
        struct Run {
            payload: Option<serde_json::Map<String, serde_json::Value>>,
            queue: Option<String>,
            steps: Option<Vec<u32>>,
            timeout_seconds: Option<u64>,
            run_at: Option<jiff::Timestamp>,
            verbose: Option<bool>,
        }
        let refused = |body: &'static str| async move { refused_body::<Run>(body).await.0 };
        assert_eq!(refused(r#"{"payload": [1, 2]}"#).await, "payload must be a JSON object, not an array");
        assert_eq!(refused(r#"{"payload": "x"}"#).await, r#"payload must be a JSON object, not "x""#);
        assert_eq!(refused(r#"{"queue": 5}"#).await, "queue must be a string, not 5");
        assert_eq!(refused(r#"{"steps": {"a": 1}}"#).await, "steps must be an array, not an object");
        assert_eq!(refused(r#"{"timeout_seconds": "5"}"#).await, r#"timeout_seconds must be a whole number, not "5""#);
        assert_eq!(refused(r#"{"timeout_seconds": 1.5}"#).await, "timeout_seconds must be a whole number, not 1.5");
        assert_eq!(
            refused(r#"{"run_at": 5}"#).await,
            "run_at must be an RFC 3339 instant such as 2026-12-04T09:00:00Z, not 5"
        );
        assert_eq!(refused(r#"{"verbose": "yes"}"#).await, r#"verbose must be true or false, not "yes""#);
        assert_eq!(refused(r#"{"queue": null, "verbose": 1}"#).await, "verbose must be true or false, not 1");
    }

    #[test]
    fn a_path_that_is_not_an_id_says_which_part_and_where_names_are_found() {
        let params =
            |pairs: &[(&str, &str)]| pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect::<Vec<_>>();
        assert_eq!(
            not_a_path_id("/schedules/nightly/trigger", params(&[("id", "nightly")])),
            r#"nothing at /schedules/nightly/trigger: "nightly" is not an id (a UUID); GET /schedules?name= finds one by name"#
        );
        let id = "01a242f6-4ca7-75d8-8c73-193b51ee5ae4";
        assert_eq!(
            not_a_path_id(&format!("/workflows/{id}/versions/latest"), params(&[("id", id), ("version", "latest")])),
            format!(r#"nothing at /workflows/{id}/versions/latest: "latest" is not a version (a whole number)"#)
        );
        assert_eq!(not_a_path_id("/somewhere", params(&[])), "nothing at /somewhere");
    }

    #[test]
    fn a_refused_query_parameter_is_named_with_what_it_takes_and_what_was_given() {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "snake_case")]
        enum Pair {
            Queued,
            Running,
        }
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Filters {
            state: Option<Pair>,
            since: Option<jiff::Timestamp>,
            limit: Option<usize>,
        }
        // What serde says of each query, as the extractor hands it over.
        fn refused<T: serde::de::DeserializeOwned>(query: &str) -> (String, Option<String>) {
            let uri: axum::http::Uri = format!("/x?{query}").parse().unwrap();
            let Err(rejection) = Query::<T>::try_from_uri(&uri) else { panic!("{query} was taken") };
            let Query(given) = Query::<Vec<(String, String)>>::try_from_uri(&uri).unwrap();
            query_error(&rejection.body_text(), &given)
        }
        assert_eq!(
            refused::<Filters>("state=queued&limit=abc"),
            ("limit must be a whole number, not \"abc\"".to_string(), Some("limit".to_string()))
        );
        assert_eq!(
            refused::<Filters>("since=2026-12-04").0,
            "since must be an RFC 3339 instant such as 2026-12-04T09:00:00Z, not \"2026-12-04\""
        );
        assert_eq!(
            refused::<Filters>("state=bogus"),
            ("state must be one of queued, running, not \"bogus\"".to_string(), Some("state".to_string()))
        );
        assert_eq!(
            refused::<Filters>("foo=1"),
            ("unknown query parameter foo; known: state, since, limit".to_string(), Some("foo".to_string()))
        );
        // Two fields are "`limit` or `cursor`" in serde's words.
        assert_eq!(
            refused::<super::PageQuery>("bogus=1"),
            ("unknown query parameter bogus; known: limit, cursor".to_string(), Some("bogus".to_string()))
        );
    }
}
