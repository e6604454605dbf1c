use std::{
    fmt,
    str::FromStr,
    sync::{
        LazyLock,
        atomic::{AtomicU64, Ordering},
    },
};

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

/// What the id of a bare run says: an ad-hoc run that waits with nothing but its job id in its queue (no
/// record of its own), because the id carries the rest. Such a run's id is a version 8 UUID: its due
/// millisecond in the first 48 bits (where a version 7 id has its creation time), the last 32 bits of its
/// workflow's id (the workflow's tag, which the run's shard maps back to the workflow in `run-workflows`)
/// in bytes 10 to 13, and 42 bits that tell it from the runs due in the same millisecond: a counter of this
/// process, from a random start, so that one process never draws an id twice (random bits alone would, about
/// once in 10 million bulk requests of 1,000 runs due together). `lib/bare_run.lua` reads it the same way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BareRun {
    pub due_ms: i64,
    /// The workflow's tag, as `run-workflows` keys it: 8 hex digits.
    pub tag: String,
}

/// The bits of a bare run's id that tell it from the others due in the same millisecond.
const DISTINCT_MASK: u64 = (1 << 42) - 1;

impl BareRun {
    /// A new bare run's id: for a run of `workflow` due at `due_ms`.
    pub fn new_id(workflow: Uuid, due_ms: i64) -> Uuid {
        static COUNTER: LazyLock<AtomicU64> =
            LazyLock::new(|| AtomicU64::new(Uuid::new_v4().as_u64_pair().0 & DISTINCT_MASK));
        let distinct = COUNTER.fetch_add(1, Ordering::Relaxed) & DISTINCT_MASK;
        let mut bytes = [0; 16];
        bytes[..6].copy_from_slice(&due_ms.max(0).to_be_bytes()[2..]);
        // The 42 bits fill what the version and variant leave of bytes 6 to 9, and bytes 14 and 15.
        bytes[6] = (distinct >> 38) as u8 & 0x0f;
        bytes[7] = (distinct >> 30) as u8;
        bytes[8] = (distinct >> 24) as u8 & 0x3f;
        bytes[9] = (distinct >> 16) as u8;
        bytes[10..14].copy_from_slice(&workflow.as_bytes()[12..]);
        bytes[14..].copy_from_slice(&(distinct as u16).to_be_bytes());
        uuid::Builder::from_bytes(bytes)
            .with_version(uuid::Version::Custom)
            .with_variant(uuid::Variant::RFC4122)
            .into_uuid()
    }

    /// The workflow tag of `workflow`: the key of its entry in `run-workflows`.
    pub fn tag_of(workflow: Uuid) -> String {
        hex(&workflow.as_bytes()[12..])
    }

    /// What `job` says as a bare run's job (`sched-{run}-n0-rc0` with a version 8 run id), if it is one.
    pub fn of(job: &JobId) -> Option<Self> {
        let JobId::Regular { schedule: run, repeat: 0, retry: 0 } = job else { return None };
        if run.get_version_num() != 8 {
            return None;
        }
        let bytes = run.as_bytes();
        let mut due = [0; 8];
        due[2..].copy_from_slice(&bytes[..6]);
        Some(Self { due_ms: i64::from_be_bytes(due), tag: hex(&bytes[10..14]) })
    }
}

/// `bytes` as lowercase hex digits, as a UUID's text spells them.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
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

    #[test]
    fn a_bare_run_id_carries_its_due_time_and_its_workflow_tag() {
        let workflow = Uuid::parse_str("0193b6a1-0000-7000-8000-0000c0ffee01").unwrap();
        let due_ms = 1_767_225_600_123;
        let run = BareRun::new_id(workflow, due_ms);
        assert_eq!(run.get_version_num(), 8);
        assert_eq!(run.get_variant(), uuid::Variant::RFC4122);
        let job = JobId::regular(run, 0, 0);
        let bare = BareRun::of(&job).unwrap();
        assert_eq!((bare.due_ms, bare.tag.as_str()), (due_ms, BareRun::tag_of(workflow).as_str()));
        assert_eq!(BareRun::tag_of(workflow), "c0ffee01");
        assert!(job.to_string().contains("-c0ffee01"), "{job}");
        let due_together: std::collections::HashSet<Uuid> =
            (0..10_000).map(|_| BareRun::new_id(workflow, due_ms)).chain([run]).collect();
        assert_eq!(due_together.len(), 10_001, "runs due together are told apart");
        assert!(due_together.iter().all(|id| BareRun::of(&JobId::regular(*id, 0, 0)).as_ref() == Some(&bare)));
        // Not bare: another version, or a job of a later repeat or retry.
        assert_eq!(BareRun::of(&JobId::regular(Uuid::now_v7(), 0, 0)), None);
        assert_eq!(BareRun::of(&JobId::regular(run, 1, 0)), None);
        assert_eq!(BareRun::of(&JobId::manual(run)), None);
    }
}
