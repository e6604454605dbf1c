use std::{fmt, str::FromStr};

use uuid::Uuid;

use crate::Error;

/// The deterministic id of one job of a schedule.
///
/// Regular runs are `sched-{schedule}-n{repeat}-rc{retry}`; manual runs are `sched-{schedule}-manual-{uuid}`;
/// backfill runs are `sched-{schedule}-bf-{occurrence as epoch seconds}`. Because a schedule's repeat and retry
/// counters only move forward, a regular id never repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobId {
    /// The run for repeat `repeat`, attempt group `retry`, of the regular chain.
    Regular { schedule: Uuid, repeat: u64, retry: u32 },
    /// An extra run asked for with `trigger`.
    Manual { schedule: Uuid, run: Uuid },
    /// The run for a past occurrence asked for with `backfill`.
    Backfill { schedule: Uuid, at: i64 },
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
            Self::Regular { schedule, .. } | Self::Manual { schedule, .. } | Self::Backfill { schedule, .. } => {
                *schedule
            }
        }
    }

    /// The backfill job of `schedule` for the occurrence at `at`.
    pub fn backfill(schedule: Uuid, at: jiff::Timestamp) -> Self {
        Self::Backfill { schedule, at: at.as_second() }
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Regular { schedule, repeat, retry } => write!(f, "sched-{schedule}-n{repeat}-rc{retry}"),
            Self::Manual { schedule, run } => write!(f, "sched-{schedule}-manual-{run}"),
            Self::Backfill { schedule, at } => write!(f, "sched-{schedule}-bf-{at}"),
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
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if let Some(at) = rest.strip_prefix("-bf-") {
            if !digits(at) {
                return Err(invalid());
            }
            return Ok(Self::Backfill { schedule, at: at.parse().map_err(|_| invalid())? });
        }
        let (repeat, retry) = rest.strip_prefix("-n").and_then(|rest| rest.split_once("-rc")).ok_or_else(invalid)?;
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
    fn backfill_job_ids_name_the_occurrence_in_epoch_seconds() {
        let schedule = Uuid::parse_str("0193b6a1-0000-7000-8000-000000000001").unwrap();
        let id = JobId::backfill(schedule, "2026-01-01T00:00:00Z".parse().unwrap());
        assert_eq!(id.to_string(), "sched-0193b6a1-0000-7000-8000-000000000001-bf-1767225600");
        assert_eq!(id.to_string().parse::<JobId>().unwrap(), id);
        assert!(format!("sched-{schedule}-bf-").parse::<JobId>().is_err());
        assert!(format!("sched-{schedule}-bf--5").parse::<JobId>().is_err());
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
