//! The records recur keeps, parsed at the edge into checked types with one string form each.

/// An enum with one string form per variant, used alike in Redis, JSON, logs and query strings: `as_str`,
/// `ALL` (declaration order), `Display`, and `FromStr` whose error names `$field` and lists the forms.
/// Serde attributes pass through, so the JSON form stays the derive's.
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident as $field:literal {
            $($(#[$variant_meta:meta])* $variant:ident = $text:literal,)+
        }
    ) => {
        $(#[$meta])*
        $vis enum $name {
            $($(#[$variant_meta])* $variant,)+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The one string form, used in Redis, JSON, logs and query strings.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::Error;
            fn from_str(text: &str) -> Result<Self, $crate::Error> {
                Self::ALL.iter().copied().find(|value| value.as_str() == text).ok_or_else(|| {
                    $crate::Error::invalid(
                        $field,
                        format!(concat!($field, " must be one of {}, not {:?}"), [$($text),+].join(", "), text),
                    )
                })
            }
        }
    };
}
pub(crate) use string_enum;

mod calendar;
mod execution;
mod job;
mod queue;
mod schedule;
mod workflow;

pub use calendar::{Calendar, CronRule, MAX_OCCURRENCES, Recurrence};
pub use execution::{Execution, ExecutionId, ExecutionState, StepRecord};
pub use job::{BareRun, JobId};
pub use queue::QueueName;
pub use schedule::{
    Admission, CANCELLED, DEFAULT_RETRY_MAX, DEFAULT_TIMEOUT_SECONDS, FIELD_ALIASES, MAX_PAYLOAD_BYTES, NewRun,
    NewSchedule, Outcome, Overlap, Schedule, SchedulePatch, ScheduleStatus, Settlement, SkipReason,
};
pub use workflow::{DEFAULT_MAX_RESPONSE_BYTES, NewWorkflow, StatusPattern, Step, Workflow};

/// Milliseconds since the Unix epoch: the form of every instant stored in Redis (sorted-set scores and
/// hash fields), so that scripts compare numbers.
pub fn millis(instant: jiff::Timestamp) -> i64 {
    instant.as_millisecond()
}

/// The instant `ms` milliseconds after the epoch, clamped to jiff's range.
pub fn from_millis(ms: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_millisecond(ms).unwrap_or(if ms < 0 { jiff::Timestamp::MIN } else { jiff::Timestamp::MAX })
}

/// A new time-ordered (version 7) id stamped with `now`, the clock's time: a record created at `now` need not
/// store its creation instant (see [`id_millis`]). Ids drawn within one millisecond still sort in the order
/// they were drawn.
pub fn new_id_at(now: jiff::Timestamp) -> uuid::Uuid {
    static CONTEXT: std::sync::Mutex<uuid::ContextV7> = std::sync::Mutex::new(uuid::ContextV7::new());
    let context = CONTEXT.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let (seconds, nanos) = (now.as_second().max(0).unsigned_abs(), now.subsec_nanosecond().max(0).unsigned_abs());
    uuid::Uuid::new_v7(uuid::Timestamp::from_unix(&*context, seconds, nanos))
}

/// The millisecond a version 7 id is stamped with; `None` for another version.
pub fn id_millis(id: uuid::Uuid) -> Option<i64> {
    let (seconds, nanos) = id.get_timestamp().filter(|_| id.get_version_num() == 7)?.to_unix();
    i64::try_from(seconds).ok()?.checked_mul(1000)?.checked_add(i64::from(nanos / 1_000_000))
}

/// RFC 3339 in UTC with `Z`, at the millisecond precision instants are stored with: the one text form of
/// instants in JSON.
pub fn rfc3339(instant: jiff::Timestamp) -> String {
    from_millis(millis(instant)).to_string()
}

/// Serde helpers that write instants as [`rfc3339`].
pub mod serde_instant {
    use jiff::Timestamp;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(instant: &Timestamp, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::rfc3339(*instant))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Timestamp, D::Error> {
        Timestamp::deserialize(deserializer)
    }

    /// The same for `Option<Timestamp>`, `null` for `None`.
    pub mod option {
        use jiff::Timestamp;
        use serde::{Deserialize, Deserializer, Serializer};

        pub fn serialize<S: Serializer>(instant: &Option<Timestamp>, serializer: S) -> Result<S::Ok, S::Error> {
            match instant {
                Some(instant) => serializer.serialize_str(&super::super::rfc3339(*instant)),
                None => serializer.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Timestamp>, D::Error> {
            Option::<Timestamp>::deserialize(deserializer)
        }
    }
}
