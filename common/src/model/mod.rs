//! The records recur keeps, parsed at the edge into checked types with one string form each.

mod calendar;
mod execution;
mod job;
mod queue;
mod schedule;
mod workflow;

pub use calendar::{Calendar, CronRule, MAX_OCCURRENCES, Recurrence};
pub use execution::{Execution, ExecutionId, ExecutionState, StepRecord};
pub use job::JobId;
pub use queue::QueueName;
pub use schedule::{
    Admission, CANCELLED, MAX_PAYLOAD_BYTES, NewSchedule, Outcome, Overlap, Schedule, SchedulePatch, ScheduleStatus,
    Settlement, SkipReason,
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
