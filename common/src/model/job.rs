use std::{fmt, str::FromStr};

use uuid::Uuid;

use crate::Error;

/// The deterministic id of one job of a schedule.
///
/// Regular runs are `sched-{schedule}-n{repeat}-rc{retry}`; manual runs are `sched-{schedule}-manual-{uuid}`.
/// Because a schedule's repeat and retry counters only move forward, a regular id never repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobId {
    /// The run for repeat `repeat`, attempt group `retry`, of the regular chain.
    Regular { schedule: Uuid, repeat: u64, retry: u32 },
    /// An extra run asked for with `trigger`.
    Manual { schedule: Uuid, run: Uuid },
}

impl JobId {
    /// The regular job for (`repeat`, `retry`) of `schedule`.
    pub fn regular(schedule: Uuid, repeat: u64, retry: u32) -> Self {
        Self::Regular { schedule, repeat, retry }
    }

    /// A new manual job of `schedule`.
    pub fn manual(schedule: Uuid) -> Self {
        Self::Manual { schedule, run: Uuid::new_v4() }
    }

    /// The schedule this job belongs to.
    pub fn schedule(&self) -> Uuid {
        match self {
            Self::Regular { schedule, .. } | Self::Manual { schedule, .. } => *schedule,
        }
    }

    /// Whether this is a manual (triggered) run, which never moves the schedule's counters.
    pub fn is_manual(&self) -> bool {
        matches!(self, Self::Manual { .. })
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Regular { schedule, repeat, retry } => write!(f, "sched-{schedule}-n{repeat}-rc{retry}"),
            Self::Manual { schedule, run } => write!(f, "sched-{schedule}-manual-{run}"),
        }
    }
}

impl FromStr for JobId {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        let invalid = || Error::invalid("job_id", format!("{text:?} is not a job id"));
        let rest = text.strip_prefix("sched-").ok_or_else(invalid)?;
        let (schedule, rest) = rest.split_at_checked(36).ok_or_else(invalid)?;
        let schedule = Uuid::parse_str(schedule).map_err(|_| invalid())?;
        if let Some(run) = rest.strip_prefix("-manual-") {
            let run = Uuid::parse_str(run).map_err(|_| invalid())?;
            return Ok(Self::Manual { schedule, run });
        }
        let (repeat, retry) = rest.strip_prefix("-n").and_then(|rest| rest.split_once("-rc")).ok_or_else(invalid)?;
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(repeat) || !digits(retry) {
            return Err(invalid());
        }
        Ok(Self::Regular {
            schedule,
            repeat: repeat.parse().map_err(|_| invalid())?,
            retry: retry.parse().map_err(|_| invalid())?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_job_ids_have_the_documented_form_and_round_trip() {
        let schedule = Uuid::parse_str("0193b6a1-0000-7000-8000-000000000001").unwrap();
        let id = JobId::regular(schedule, 12, 3);
        assert_eq!(id.to_string(), "sched-0193b6a1-0000-7000-8000-000000000001-n12-rc3");
        assert_eq!(id.to_string().parse::<JobId>().unwrap(), id);
    }

    #[test]
    fn manual_job_ids_round_trip() {
        let id = JobId::manual(Uuid::new_v4());
        assert!(id.to_string().contains("-manual-"));
        assert_eq!(id.to_string().parse::<JobId>().unwrap(), id);
    }

    #[test]
    fn malformed_job_ids_are_rejected() {
        let schedule = Uuid::new_v4();
        for bad in [
            "".to_string(),
            format!("sched-{schedule}"),
            format!("sched-{schedule}-n1"),
            format!("sched-{schedule}-n-rc1"),
            format!("sched-{schedule}-n+1-rc1"),
            format!("job-{schedule}-n1-rc1"),
        ] {
            assert!(bad.parse::<JobId>().is_err(), "{bad}");
        }
    }
}
