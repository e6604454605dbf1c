//! The API's own description as the judge of its answers: every answer the suite receives through
//! [`super::TestApp`] is checked against the schema `GET /api/v1/openapi.json` gives for its route and status.
//! Objects in the description are read as closed (`unevaluatedProperties: false`), so an answer with a field
//! the description does not name fails as surely as one missing a required field.

use std::{
    collections::{BTreeSet, HashMap},
    sync::{Arc, Mutex},
};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// The description served by one `recur-api`, with validators compiled on first use.
pub struct ApiDescription {
    /// The document as served, with objects closed and `$schema` set, used as the root of every validator.
    root: Value,
    validators: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

impl ApiDescription {
    pub fn new(document: Value) -> Self {
        Self { root: closed(document), validators: Mutex::default() }
    }

    /// The document, with objects closed.
    pub fn document(&self) -> &Value {
        &self.root
    }

    /// Panics unless `body`, answered with `status` to `method` on `path` (under `/api/v1`, query left out),
    /// is what the description says that operation answers with that status.
    pub fn check_answer(&self, method: &Method, path: &str, status: StatusCode, body: &Value) {
        // The server routes `/schedules/` as `/schedules`.
        let path = match path.trim_end_matches('/') {
            "" => "/",
            trimmed => trimmed,
        };
        let Some(template) = self.template_of(path) else {
            // Paths the API does not serve answer with the error envelope.
            return self.check("#/components/schemas/ErrorBody", body, &format!("{method} {path} ({status})"));
        };
        let operation = format!("#/paths/{}/{}", escape(&template), method.as_str().to_ascii_lowercase());
        let Some(operation_value) = self.root.pointer(&operation[1..]) else {
            // A method the route lacks is 405 with the envelope (401 first when keys are set and none is sent).
            let refused = [StatusCode::METHOD_NOT_ALLOWED, StatusCode::UNAUTHORIZED];
            assert!(refused.contains(&status), "{method} {template} ({status}) is not in the API description");
            return self.check("#/components/schemas/ErrorBody", body, &format!("{method} {path}"));
        };
        let response = format!("{operation}/responses/{}", status.as_u16());
        let Some(response_value) = operation_value.pointer(&format!("/responses/{}", status.as_u16())) else {
            panic!("{method} {template} answered {status}, which its description does not list: {body}");
        };
        let what = format!("{method} {template} ({status})");
        match (response_value.pointer("/content/application~1json/schema"), response_value.get("content")) {
            (Some(_), _) => self.check(&format!("{response}/content/application~1json/schema"), body, &what),
            // Another media type (the metrics' text): not JSON, so nothing to check here.
            (None, Some(_)) => {}
            (None, None) => assert!(body.is_null(), "{what} is described without a body but answered {body}"),
        }
    }

    /// Panics unless `body`, a request the API accepted, matches the request body its operation describes:
    /// what the API takes must be what the description says it takes.
    pub fn check_accepted_request(&self, method: &Method, path: &str, body: &Value) {
        let Some(template) = self.template_of(path.trim_end_matches('/')) else { return };
        let operation = format!("#/paths/{}/{}", escape(&template), method.as_str().to_ascii_lowercase());
        let schema = format!("{operation}/requestBody/content/application~1json/schema");
        if self.root.pointer(&schema[1..]).is_none() {
            panic!("{method} {template} accepted a JSON body its description does not mention: {body}");
        }
        self.check(&schema, body, &format!("the body {method} {template} accepted"));
    }

    /// Panics unless `instance` matches the schema at `pointer` (a JSON pointer into the document).
    pub fn check(&self, pointer: &str, instance: &Value, what: &str) {
        let validator = self.validator(pointer);
        let errors: Vec<String> =
            validator.iter_errors(instance).map(|error| format!("{} at {}", error, error.instance_path())).collect();
        assert!(
            errors.is_empty(),
            "{what} disagrees with the API description ({pointer}):\n{}\n{instance:#}",
            errors.join("\n")
        );
    }

    fn validator(&self, pointer: &str) -> Arc<jsonschema::Validator> {
        let mut validators = self.validators.lock().expect("validator cache");
        validators
            .entry(pointer.to_string())
            .or_insert_with(|| {
                let mut root = self.root.clone();
                // A URI fragment: the braces of path templates must be percent-encoded.
                root["$ref"] = json!(pointer.replace('{', "%7B").replace('}', "%7D"));
                let validator = jsonschema::options()
                    .with_draft(jsonschema::Draft::Draft202012)
                    .should_validate_formats(true)
                    .build(&root)
                    .unwrap_or_else(|error| panic!("the schema at {pointer} does not compile: {error}"));
                Arc::new(validator)
            })
            .clone()
    }

    /// The path template (`/api/v1/schedules/{id}`) that `path` matches; literal segments win over parameters,
    /// as in the router (`/schedules/batch` is not `/schedules/{id}`).
    fn template_of(&self, path: &str) -> Option<String> {
        let segments: Vec<&str> = path.split('/').collect();
        let paths = self.root["paths"].as_object()?;
        paths
            .keys()
            .filter(|template| {
                let pattern: Vec<&str> = template.split('/').collect();
                pattern.len() == segments.len()
                    && pattern.iter().zip(&segments).all(|(p, s)| p.starts_with('{') || p == s)
            })
            .min_by_key(|template| template.matches('{').count())
            .cloned()
    }

    /// Every `example` and `examples` entry of the document's schemas, with the pointer of the schema it
    /// illustrates.
    pub fn examples(&self) -> Vec<(String, Value)> {
        let mut found = Vec::new();
        collect_examples(&self.root, "#", &mut found);
        found
    }
}

fn collect_examples(node: &Value, pointer: &str, found: &mut Vec<(String, Value)>) {
    match node {
        Value::Object(object) => {
            let is_schema = object.contains_key("type")
                || object.contains_key("properties")
                || object.contains_key("$ref")
                || object.contains_key("allOf")
                || object.contains_key("oneOf");
            if is_schema {
                if let Some(example) = object.get("example") {
                    found.push((pointer.to_string(), example.clone()));
                }
                if let Some(Value::Array(examples)) = object.get("examples") {
                    found.extend(examples.iter().map(|example| (pointer.to_string(), example.clone())));
                }
            }
            for (key, child) in object {
                if key != "example" && key != "examples" {
                    collect_examples(child, &format!("{pointer}/{}", escape(key)), found);
                }
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                collect_examples(child, &format!("{pointer}/{index}"), found);
            }
        }
        _ => {}
    }
}

/// `segment` as one JSON pointer token.
fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// The document with `$schema` set and every object schema closed: those with `properties`, and `allOf`
/// compositions as a whole (their members stay open, since `unevaluatedProperties` sees through `allOf` and
/// a closed member would refuse its siblings' fields).
fn closed(mut document: Value) -> Value {
    let mut members = BTreeSet::new();
    find_all_of_members(&document, &mut members);
    if let Some(schemas) = document.pointer_mut("/components/schemas").and_then(Value::as_object_mut) {
        for (name, schema) in schemas.iter_mut() {
            let pointer = format!("#/components/schemas/{name}");
            close(schema, !members.contains(&pointer));
        }
    }
    if let Some(paths) = document.get_mut("paths") {
        close_inline(paths);
    }
    document["$schema"] = json!("https://json-schema.org/draft/2020-12/schema");
    document
}

/// Components referenced directly as `allOf` members.
fn find_all_of_members(node: &Value, members: &mut BTreeSet<String>) {
    match node {
        Value::Object(object) => {
            if let Some(Value::Array(parts)) = object.get("allOf") {
                members.extend(parts.iter().filter_map(|part| part["$ref"].as_str()).map(str::to_string));
            }
            object.values().for_each(|child| find_all_of_members(child, members));
        }
        Value::Array(items) => items.iter().for_each(|child| find_all_of_members(child, members)),
        _ => {}
    }
}

/// Closes `schema` (unless it is an `allOf` member) and the object schemas nested in it.
fn close(schema: &mut Value, close_self: bool) {
    let Some(object) = schema.as_object_mut() else { return };
    let is_object = object.contains_key("properties") || object.contains_key("allOf");
    if close_self && is_object && !object.contains_key("additionalProperties") {
        object.insert("unevaluatedProperties".to_string(), json!(false));
    }
    for (key, child) in object.iter_mut() {
        match (key.as_str(), child) {
            ("allOf", Value::Array(parts)) => parts.iter_mut().for_each(|part| close(part, false)),
            ("properties", Value::Object(properties)) => properties.values_mut().for_each(|p| close(p, true)),
            ("oneOf" | "anyOf", Value::Array(options)) => options.iter_mut().for_each(|option| close(option, true)),
            ("items" | "additionalProperties", child) => close(child, true),
            _ => {}
        }
    }
}

/// Closes the inline schemas of the paths' request bodies and answers.
fn close_inline(node: &mut Value) {
    match node {
        Value::Object(object) => {
            for (key, child) in object.iter_mut() {
                if key == "schema" { close(child, true) } else { close_inline(child) }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(close_inline),
        _ => {}
    }
}
