//! Jinja templates in step strings (minijinja): checked when a workflow is saved, rendered as each step runs.
//!
//! A template sees `trigger` (what the run received), `workflow` (`id`, `name`, `version`) and `steps`, the
//! earlier steps of this run: `steps[0].output` by position or `steps.fetch.output` by a step's name.

use std::sync::{Arc, LazyLock};

use minijinja::{
    Environment, UndefinedBehavior,
    value::{Enumerator, Object, ObjectRepr, Serde, Value},
};

/// Instructions one rendering may spend, so that a runaway loop fails the step instead of the worker.
const FUEL: u64 = 100_000;

static ENVIRONMENT: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut environment = Environment::new();
    // A missing value is an error, not an empty string that would send a half-built URL.
    environment.set_undefined_behavior(UndefinedBehavior::Strict);
    environment.set_fuel(Some(FUEL));
    // Debug mode names what was undefined ("`trigger.payload.x` is undefined"); it is on by default only in
    // debug builds, so a release worker said "undefined value" alone. It costs nothing until a value is missing.
    environment.set_debug(true);
    // Step strings are URLs, headers and JSON, never HTML.
    environment.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    environment
});

/// Whether `text` holds template syntax at all; plain strings are used as they are.
fn is_template(text: &str) -> bool {
    text.contains("{{") || text.contains("{%") || text.contains("{#")
}

/// Checks the syntax of one template; the error says what is wrong and where.
pub fn check(text: &str) -> Result<(), String> {
    if !is_template(text) {
        return Ok(());
    }
    ENVIRONMENT.template_from_str(text).map(|_| ()).map_err(|error| describe(&error))
}

/// What a template of one run sees.
#[derive(Debug, Clone)]
pub struct Context {
    trigger: serde_json::Value,
    workflow: serde_json::Value,
    steps: Arc<Steps>,
}

impl Context {
    /// The context of a run before its first step.
    pub fn new(trigger: serde_json::Value, workflow: serde_json::Value) -> Self {
        Self { trigger, workflow, steps: Arc::new(Steps::default()) }
    }

    /// Adds the output of the step that just ended, for the steps after it.
    pub fn push_step(&mut self, kind: &str, name: Option<&str>, output: serde_json::Value) {
        Arc::make_mut(&mut self.steps).0.push(StepView {
            name: name.map(str::to_string),
            value: serde_json::json!({ "kind": kind, "name": name, "output": output }),
        });
    }

    /// Renders `text` (a plain string comes back unchanged).
    pub fn render(&self, text: &str) -> Result<String, String> {
        if !is_template(text) {
            return Ok(text.to_string());
        }
        let context = minijinja::context! {
            trigger => Value::from(Serde(&self.trigger)),
            workflow => Value::from(Serde(&self.workflow)),
            steps => Value::from_dyn_object(self.steps.clone()),
        };
        ENVIRONMENT.render_str(text, context).map_err(|error| describe(&error))
    }
}

#[derive(Debug, Clone)]
struct StepView {
    name: Option<String>,
    value: serde_json::Value,
}

/// The earlier steps of a run, reachable by index and by name.
#[derive(Debug, Clone, Default)]
struct Steps(Vec<StepView>);

impl Object for Steps {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let step = match key.as_str() {
            // The latest earlier step of that name.
            Some(name) => self.0.iter().rev().find(|step| step.name.as_deref() == Some(name)),
            None => self.0.get(key.as_usize()?),
        };
        step.map(|step| Value::from(Serde(&step.value)))
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Seq(self.0.len())
    }
}

/// One line: the error and, when minijinja knows it, the line of the template.
fn describe(error: &minijinja::Error) -> String {
    let mut text =
        error.detail().map_or_else(|| error.kind().to_string(), |detail| format!("{}: {detail}", error.kind()));
    if let Some(line) = error.line() {
        text.push_str(&format!(" (line {line})"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn context() -> Context {
        let mut context = Context::new(
            json!({"timestamp": "2026-11-22T10:00:00Z", "payload": {"user": "ada"}}),
            json!({"id": "w1", "name": "sync", "version": 2}),
        );
        context.push_step("http", Some("fetch"), json!({"status": 200, "body": {"id": 42}}));
        context
    }

    #[test]
    fn templates_see_the_trigger_the_workflow_and_earlier_steps_by_index_and_name() {
        let context = context();
        let rendered = context
            .render("{{ trigger.timestamp }} {{ trigger.payload.user }} {{ workflow.name }} v{{ workflow.version }} {{ steps[0].output.body.id }} {{ steps.fetch.output.status }} {{ steps | length }}")
            .unwrap();
        assert_eq!(rendered, "2026-11-22T10:00:00Z ada sync v2 42 200 1");
        assert_eq!(context.render("no template here").unwrap(), "no template here");
        assert_eq!(context.render("{{ trigger.payload | tojson }}").unwrap(), r#"{"user": "ada"}"#);
    }

    #[test]
    fn syntax_errors_are_found_at_check_and_missing_values_fail_the_render() {
        assert!(check("{{ trigger.timestamp }}").is_ok());
        let error = check("{{ trigger.timestamp ").unwrap_err();
        assert!(error.contains("syntax error"), "{error}");
        let error = context().render("{{ steps[3].output }}").unwrap_err();
        assert!(error.contains("undefined"), "{error}");
        let error = context().render("hi {{ trigger.payload.name }}").unwrap_err();
        assert!(error.contains("`trigger.payload.name` is undefined"), "{error}");
        // Release builds too: minijinja's debug mode defaults to on only with debug assertions.
        assert!(ENVIRONMENT.debug());
    }

    #[test]
    fn a_runaway_template_runs_out_of_fuel() {
        let error = context()
            .render("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}")
            .unwrap_err();
        assert!(error.contains("fuel"), "{error}");
    }
}
