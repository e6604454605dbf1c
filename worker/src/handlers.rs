//! Rust functions a workflow calls with `{"kind": "handler", "name": ..., "input": ...}`.

use std::{collections::BTreeMap, future::Future, pin::Pin, sync::Arc};

use serde_json::Value;

/// What a handler receives: the step's `input` with its templates rendered, and the run's trigger.
#[derive(Debug, Clone)]
pub struct HandlerCall {
    pub input: Value,
    pub trigger: Value,
}

/// The future a handler returns: its output (the step's output), or an error that fails the step.
pub type HandlerFuture = Pin<Box<dyn Future<Output = anyhow::Result<Value>> + Send>>;

pub(crate) type Handler = Arc<dyn Fn(HandlerCall) -> HandlerFuture + Send + Sync>;

/// The handlers a worker offers, by name. Workers announce the names in their heartbeat, and only take
/// jobs whose handlers they offer.
#[derive(Clone, Default)]
pub struct Handlers(BTreeMap<String, Handler>);

impl Handlers {
    /// Registers `handler` under `name` (`[A-Za-z0-9_-]{1,64}`, as in a workflow), replacing any earlier one.
    ///
    /// # Panics
    /// On a name a workflow could not call: a mistake in the worker's code, found when it starts.
    #[must_use]
    pub fn register<F, Fut>(mut self, name: &str, handler: F) -> Self
    where
        F: Fn(HandlerCall) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = anyhow::Result<Value>> + Send + 'static,
    {
        let valid =
            (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        assert!(valid, "handler name {name:?} must match [A-Za-z0-9_-]{{1,64}}");
        self.0.insert(name.to_string(), Arc::new(move |call| Box::pin(handler(call))));
        self
    }

    /// The registered names, sorted.
    pub fn names(&self) -> Vec<String> {
        self.0.keys().cloned().collect()
    }

    pub(crate) fn get(&self, name: &str) -> Option<&Handler> {
        self.0.get(name)
    }
}
