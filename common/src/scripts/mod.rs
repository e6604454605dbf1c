//! The typed bridge to Lua: every script declared once, with named keys and arguments and a reply type.
//!
//! A declaration in [`calls`] is a struct whose fields are the script's `KEYS`, then its `ARGV`, in the
//! order of the script's header, and a [`Reply`] type that decodes its answer. The script's text starts with
//! one generated line that binds each field to a Lua local of the same name (`local job, running = KEYS[1],
//! KEYS[2]`), so Lua reads names, never indexes. A list field (the repeated tail of the keys or of the
//! arguments) binds the index of its first value instead. Shared steps live in `lib/*.lua` and are
//! prepended. A test checks each header against its declaration, so the two cannot drift.
//!
//! This module is the only place that calls `.key(` or `.arg(`; [`crate::store::Store`] builds a
//! declaration and runs it.

use std::sync::LazyLock;

use redis::{Script, ScriptInvocation, Value};

use crate::{Error, Result, connection::RedisConnection};

pub(crate) mod calls;
mod replies;

pub(crate) use replies::*;

/// A script call: the values of its keys and arguments, and how its answer reads.
pub(crate) trait ScriptCall {
    /// What the script answers, decoded.
    type Reply: Reply;
    /// The script's file, names and text.
    fn declaration() -> &'static Declaration;
    /// The call with every key and argument in place.
    fn invocation(&self) -> ScriptInvocation<'static>;
}

/// A script's answer as a Rust value; a shape the script never answers is [`Error::UnexpectedReply`].
pub(crate) trait Reply: Sized {
    fn decode(value: Value, script: &'static str) -> Result<Self>;
}

/// What a declaration says of its script: the file, the names of its keys and arguments, and the script
/// assembled from the generated bindings, the shared steps and the file.
#[cfg_attr(not(test), expect(dead_code, reason = "the names and the source are read by the header test"))]
pub(crate) struct Declaration {
    pub file: &'static str,
    /// The file's own text, header included.
    pub source: &'static str,
    pub keys: &'static [&'static str],
    /// The repeated tail of the keys, if any.
    pub key_list: Option<&'static str>,
    pub args: &'static [&'static str],
    /// The repeated tail of the arguments, if any.
    pub arg_list: Option<&'static str>,
    pub script: LazyLock<Script>,
}

/// The scripts Redis runs when it is out of memory (`maxmemory` reached under `noeviction`): those that
/// free memory or keep work under way from being lost (finishes, lease renewals, hand-backs, heartbeats, the
/// reconciler's bookkeeping, deletes). Every other script is refused before it writes anything, so a full
/// Redis takes no new schedules, workflows or runs and never holds half a change.
const RUN_WHEN_OUT_OF_MEMORY: &[&str] = &[
    "cancel_execution.lua",
    "delete_schedule.lua",
    "delete_workflow.lua",
    "finish_jobs.lua",
    "finish_runs.lua",
    "note_corrupt_records.lua",
    "pause_schedule.lua",
    "promote_due_jobs.lua",
    "record_worker_heartbeat.lua",
    "remove_worker.lua",
    "renew_lease.lua",
    "requeue_job.lua",
    "retire_workflow.lua",
    "review_handler_waits.lua",
    "take_reconciler_turn.lua",
    "trim_execution_index.lua",
    "trim_history.lua",
];

/// The text Redis runs: the shebang that sets its flags, a line binding every key and argument by name, the
/// shared steps, the file.
pub(crate) fn assemble(
    file: &str,
    keys: &[&str],
    key_list: Option<&str>,
    args: &[&str],
    arg_list: Option<&str>,
    libraries: &[&str],
    source: &str,
) -> String {
    let mut names = Vec::new();
    let mut values = Vec::new();
    for (name, index) in keys.iter().zip(1..) {
        names.push(*name);
        values.push(format!("KEYS[{index}]"));
    }
    if let Some(name) = key_list {
        names.push(name);
        values.push((keys.len() + 1).to_string());
    }
    for (name, index) in args.iter().zip(1..) {
        names.push(*name);
        values.push(format!("ARGV[{index}]"));
    }
    if let Some(name) = arg_list {
        names.push(name);
        values.push((args.len() + 1).to_string());
    }
    // A script without a shebang is checked for memory only at its first write that may grow memory, and
    // not at all after a delete, so whether it ran under `maxmemory` depended on its order of commands.
    let mut text =
        if RUN_WHEN_OUT_OF_MEMORY.contains(&file) { "#!lua flags=allow-oom\n" } else { "#!lua\n" }.to_string();
    if !names.is_empty() {
        text.push_str(&format!("local {} = {}\n", names.join(", "), values.join(", ")));
    }
    for library in libraries {
        text.push_str(library);
        text.push('\n');
    }
    text.push_str(source);
    text
}

/// Declares scripts: `Name = "file.lua" ["lib.lua", ...] -> Reply { keys { name: Type, ... ..list: Type, }
/// args { ... } }`. Field types are `ToRedisArgs`; a list field writes every value of its tail.
macro_rules! scripts {
    ($(
        $(#[$doc:meta])*
        $name:ident = $file:literal [$($library:literal),*] -> $reply:ty {
            keys { $($key:ident: $key_type:ty,)* $(..$key_list:ident: $key_list_type:ty,)? }
            args { $($arg:ident: $arg_type:ty,)* $(..$arg_list:ident: $arg_list_type:ty,)? }
        }
    )*) => {
        $(
            $(#[$doc])*
            #[doc = concat!("\n\nRuns `", $file, "`.")]
            pub(crate) struct $name {
                $(pub $key: $key_type,)*
                $(pub $key_list: $key_list_type,)?
                $(pub $arg: $arg_type,)*
                $(pub $arg_list: $arg_list_type,)?
            }

            impl $crate::scripts::ScriptCall for $name {
                type Reply = $reply;

                fn declaration() -> &'static $crate::scripts::Declaration {
                    const KEYS: &[&str] = &[$(stringify!($key)),*];
                    const KEY_LIST: Option<&str> = $crate::scripts::name_of!($($key_list)?);
                    const ARGS: &[&str] = &[$(stringify!($arg)),*];
                    const ARG_LIST: Option<&str> = $crate::scripts::name_of!($($arg_list)?);
                    const SOURCE: &str = include_str!($file);
                    static DECLARATION: $crate::scripts::Declaration = $crate::scripts::Declaration {
                        file: $file,
                        source: SOURCE,
                        keys: KEYS,
                        key_list: KEY_LIST,
                        args: ARGS,
                        arg_list: ARG_LIST,
                        script: std::sync::LazyLock::new(|| {
                            redis::Script::new(&$crate::scripts::assemble(
                                $file,
                                KEYS,
                                KEY_LIST,
                                ARGS,
                                ARG_LIST,
                                &[$(include_str!(concat!("lib/", $library))),*],
                                SOURCE,
                            ))
                        }),
                    };
                    &DECLARATION
                }

                fn invocation(&self) -> redis::ScriptInvocation<'static> {
                    let mut invocation = Self::declaration().script.prepare_invoke();
                    $(invocation.key(&self.$key);)*
                    $(invocation.key(&self.$key_list);)?
                    $(invocation.arg(&self.$arg);)*
                    $(invocation.arg(&self.$arg_list);)?
                    invocation
                }
            }
        )*

        /// Every declaration: for the header test, and to load every script when a process gets ready.
        pub(crate) fn declarations() -> Vec<&'static $crate::scripts::Declaration> {
            use $crate::scripts::ScriptCall as _;
            vec![$($name::declaration()),*]
        }
    };
}
pub(crate) use scripts;

/// `Some("name")` for a list field, `None` without one.
macro_rules! name_of {
    () => {
        None
    };
    ($name:ident) => {
        Some(stringify!($name))
    };
}
pub(crate) use name_of;

/// A boolean as an item of a list field takes it: the text redis-rs writes for a `bool` field, which Lua
/// reads as `flag == '1'`. The one place that encoding is spelled out.
pub(crate) fn flag(on: bool) -> String {
    redis::ToRedisArgs::to_redis_args(&on).concat().into_iter().map(char::from).collect()
}

/// Runs `call` on `conn` and decodes its answer.
pub(crate) async fn run<S: ScriptCall>(conn: &mut RedisConnection, call: &S) -> Result<S::Reply> {
    let value: Value = call.invocation().invoke_async(conn).await?;
    S::Reply::decode(value, S::declaration().file)
}

/// Loads into Redis every script it lacks (after a restart or `SCRIPT FLUSH` it has none); how many it
/// loaded. Calls reload a missing script by themselves; this makes a process ready before its first call.
pub(crate) async fn load_missing(conn: &mut RedisConnection) -> Result<usize> {
    let declarations = calls::declarations();
    let mut exists = redis::cmd("SCRIPT");
    exists.arg("EXISTS");
    for declaration in &declarations {
        exists.arg(declaration.script.get_hash());
    }
    let loaded: Vec<bool> = exists.query_async(conn).await?;
    let mut count = 0;
    for (declaration, _) in declarations.iter().zip(loaded).filter(|(_, loaded)| !loaded) {
        declaration.script.prepare_invoke().load_async(conn).await?;
        count += 1;
    }
    Ok(count)
}

/// A reply that is not one the script's header documents.
pub(crate) fn unexpected(script: &'static str, value: &Value) -> Error {
    Error::unexpected_reply(script, format!("unexpected answer {value:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names a header lists for `KEYS` or `ARGV` (`-- KEYS[3] name: ...`), in order, and the list field
    /// (`-- KEYS[4..] name: ...`), checking that the indexes count up from 1.
    fn header_names(declaration: &Declaration, kind: &str) -> (Vec<String>, Option<String>) {
        let mut names = Vec::new();
        let mut list = None;
        let header = declaration.source.lines().take_while(|line| line.starts_with("--"));
        for line in header {
            let Some(rest) = line.strip_prefix(&format!("-- {kind}[")) else { continue };
            let (index, rest) = rest.split_once(']').expect("a closing bracket");
            let name: String =
                rest.trim_start().chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            assert!(list.is_none(), "{}: {kind} {name} follows the list field", declaration.file);
            match index.strip_suffix("..") {
                Some(index) => {
                    assert_eq!(index, (names.len() + 1).to_string(), "{}: {kind} {name}", declaration.file);
                    list = Some(name);
                }
                None => {
                    assert_eq!(index, (names.len() + 1).to_string(), "{}: {kind} {name}", declaration.file);
                    names.push(name);
                }
            }
        }
        (names, list)
    }

    #[test]
    fn every_script_header_lists_the_keys_and_arguments_of_its_declaration_in_order() {
        let declarations = calls::declarations();
        assert!(declarations.len() >= 20, "{} declarations", declarations.len());
        for declaration in declarations {
            let (keys, key_list) = header_names(declaration, "KEYS");
            assert_eq!(keys, declaration.keys, "{}: KEYS", declaration.file);
            assert_eq!(key_list.as_deref(), declaration.key_list, "{}: KEYS list", declaration.file);
            let (args, arg_list) = header_names(declaration, "ARGV");
            assert_eq!(args, declaration.args, "{}: ARGV", declaration.file);
            assert_eq!(arg_list.as_deref(), declaration.arg_list, "{}: ARGV list", declaration.file);
            assert!(
                declaration.source.lines().any(|line| line.starts_with("-- Returns ")),
                "{}: the header says what it returns",
                declaration.file
            );
        }
    }

    #[test]
    fn binding_names_are_unique_lua_identifiers_and_no_script_indexes_keys_or_argv_itself() {
        const LUA_KEYWORDS: [&str; 22] = [
            "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if", "in", "local",
            "nil", "not", "or", "repeat", "return", "then", "true", "until", "while",
        ];
        for declaration in calls::declarations() {
            let mut names: Vec<&str> = declaration.keys.iter().chain(declaration.args).copied().collect();
            names.extend(declaration.key_list);
            names.extend(declaration.arg_list);
            let mut unique = names.clone();
            unique.sort_unstable();
            unique.dedup();
            assert_eq!(unique.len(), names.len(), "{}: a name is bound twice", declaration.file);
            for name in names {
                assert!(!LUA_KEYWORDS.contains(&name), "{}: {name} is a Lua keyword", declaration.file);
            }
            let body = declaration.source.lines().filter(|line| !line.trim_start().starts_with("--"));
            for line in body {
                // List fields are walked from their bound start; everything else is read by name.
                let indexed = ["KEYS[", "ARGV["].iter().any(|array| {
                    line.match_indices(array).any(|(at, _)| line[at + 5..].starts_with(|c: char| c.is_ascii_digit()))
                });
                assert!(!indexed, "{}: reads KEYS or ARGV by a fixed index: {line}", declaration.file);
            }
        }
    }

    #[test]
    fn a_flag_in_a_list_is_written_as_a_bool_field_is() {
        assert_eq!((flag(true), flag(false)), ("1".to_string(), "0".to_string()));
    }

    #[test]
    fn the_bindings_line_names_every_key_and_argument_and_list_starts() {
        let text =
            assemble("x.lua", &["job", "queue"], Some("jobs"), &["now_ms"], Some("pairs"), &["-- lib"], "return 1");
        assert_eq!(
            text,
            "#!lua\nlocal job, queue, jobs, now_ms, pairs = KEYS[1], KEYS[2], 3, ARGV[1], 2\n-- lib\nreturn 1"
        );
    }

    #[test]
    fn every_script_allowed_out_of_memory_exists_and_says_so() {
        let files: Vec<&str> = calls::declarations().iter().map(|declaration| declaration.file).collect();
        for file in RUN_WHEN_OUT_OF_MEMORY {
            assert!(files.contains(file), "{file} is not a declared script");
            assert!(assemble(file, &[], None, &[], None, &[], "").starts_with("#!lua flags=allow-oom\n"));
        }
    }
}
