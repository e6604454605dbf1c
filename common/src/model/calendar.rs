//! When a schedule's occurrences fall: on a fixed-rate grid, on a cron expression in a time zone, or once.
//! Pure functions of their inputs; `docs/cron.md` states the rules and the tests below pin them.

use std::fmt;

use croner::{
    Cron,
    parser::{CronParser, Seconds, Year},
};
use jiff::{SignedDuration, Timestamp, tz::TimeZone};
use uuid::Uuid;

use crate::{Error, timing};

/// Occurrences counted one by one at most this many times (skipped-slot counts saturate here).
const MAX_COUNTED: u64 = 10_000;
/// The most occurrences a preview or a backfill may ask for.
pub const MAX_OCCURRENCES: usize = 1_000;

/// The rule that generates a schedule's occurrences.
#[derive(Debug, Clone, PartialEq)]
pub enum Recurrence {
    /// Every `seconds`, on a grid anchored at the schedule's first run.
    Interval { seconds: u64 },
    /// The instants a cron expression matches in a time zone.
    Cron(Box<CronRule>),
    /// One run at `at`.
    Once { at: Timestamp },
}

/// The API form: `interval_seconds`, `cron`, `timezone` and `run_at`, `null` where they do not apply.
impl serde::Serialize for Recurrence {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let (interval_seconds, cron, timezone, run_at) = match self {
            Self::Interval { seconds } => (Some(*seconds), None, None, None),
            Self::Cron(rule) => (None, Some(rule.expression()), Some(rule.timezone()), None),
            Self::Once { at } => (None, None, None, Some(super::rfc3339(*at))),
        };
        let mut map = serializer.serialize_map(Some(4))?;
        map.serialize_entry("interval_seconds", &interval_seconds)?;
        map.serialize_entry("cron", &cron)?;
        map.serialize_entry("timezone", &timezone)?;
        map.serialize_entry("run_at", &run_at)?;
        map.end()
    }
}

/// In the API description: the four fields [`Recurrence`] serializes to, exactly one of `interval_seconds`,
/// `cron` (with `timezone`) and `run_at` set.
impl utoipa::PartialSchema for Recurrence {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::{ObjectBuilder, Type, schema::SchemaType};
        let nullable = |kind: Type| SchemaType::from_iter([kind, Type::Null]);
        ObjectBuilder::new()
            .property("interval_seconds", ObjectBuilder::new().schema_type(nullable(Type::Integer)).minimum(Some(1)))
            .property("cron", ObjectBuilder::new().schema_type(nullable(Type::String)))
            .property("timezone", ObjectBuilder::new().schema_type(nullable(Type::String)))
            .property(
                "run_at",
                ObjectBuilder::new()
                    .schema_type(nullable(Type::String))
                    .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::DateTime))),
            )
            .required("interval_seconds")
            .required("cron")
            .required("timezone")
            .required("run_at")
            .into()
    }
}

impl utoipa::ToSchema for Recurrence {}

/// A checked cron expression and time zone.
#[derive(Clone)]
pub struct CronRule {
    expression: String,
    timezone: String,
    cron: Cron,
    zone: TimeZone,
}

impl PartialEq for CronRule {
    fn eq(&self, other: &Self) -> bool {
        self.expression == other.expression && self.timezone == other.timezone
    }
}

impl fmt::Debug for CronRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CronRule({:?} in {})", self.expression, self.timezone)
    }
}

/// The fields of a cron expression in order, for messages that point at the bad one.
const FIELDS_5: [&str; 5] = ["minute", "hour", "day-of-month", "month", "day-of-week"];
const FIELDS_6: [&str; 6] = ["second", "minute", "hour", "day-of-month", "month", "day-of-week"];
const MACROS: [&str; 5] = ["@yearly", "@monthly", "@weekly", "@daily", "@hourly"];

fn parser() -> CronParser {
    // Vixie semantics: day-of-month and day-of-week both restricted means either matches.
    CronParser::builder().seconds(Seconds::Optional).year(Year::Disallowed).dom_and_dow(false).build()
}

impl CronRule {
    /// Parses `expression` in the IANA zone `timezone`. Errors name the bad field (`invalid_cron`) or the zone
    /// (`invalid_timezone`).
    pub fn parse(expression: &str, timezone: &str) -> Result<Self, Error> {
        let zone = TimeZone::get(timezone).map_err(|_| {
            Error::invalid_as(
                "invalid_timezone",
                "timezone",
                format!("timezone {timezone:?} is not an IANA time zone name (such as \"Europe/Berlin\" or \"UTC\")"),
            )
        })?;
        let cron = parse_cron(expression)?;
        Ok(Self { expression: expression.trim().to_string(), timezone: timezone.to_string(), cron, zone })
    }

    /// The expression as given (trimmed).
    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// The IANA name of the time zone.
    pub fn timezone(&self) -> &str {
        &self.timezone
    }

    /// The first matching instant after `t` (or at `t`, when `inclusive`).
    fn next(&self, t: Timestamp, inclusive: bool) -> Option<Timestamp> {
        // Cron matches whole seconds: a `t` inside a second searches from the next whole second, inclusively.
        let whole = Timestamp::from_second(t.as_second()).ok()?;
        let (from, inclusive) = if whole == t { (t, inclusive) } else { (whole + SignedDuration::from_secs(1), true) };
        let zoned = from.to_zoned(self.zone.clone());
        self.cron.find_next_occurrence(&zoned, inclusive).ok().map(|next| next.timestamp())
    }
}

fn parse_cron(expression: &str) -> Result<Cron, Error> {
    let invalid = |message: String| Error::invalid_as("invalid_cron", "cron", message);
    let text = expression.trim();
    if text.starts_with('@') {
        if !MACROS.iter().any(|m| m.eq_ignore_ascii_case(text)) {
            return Err(invalid(format!("cron macro {text:?} is not one of {}", MACROS.join(", "))));
        }
        return parser().parse(text).map_err(|e| invalid(format!("cron {text:?}: {e}")));
    }
    let fields: Vec<&str> = text.split_whitespace().collect();
    // A zone prefix (crontab's and Kubernetes' `CRON_TZ=Europe/Berlin 0 9 * * *`) would read as a bad seconds field.
    if let Some(zone) = fields.first().and_then(|first| first.strip_prefix("CRON_TZ=").or(first.strip_prefix("TZ="))) {
        return Err(invalid(format!(
            "cron takes no zone prefix: leave {:?} out and send \"timezone\": {zone:?}",
            fields[0]
        )));
    }
    let names: &[&str] = match fields.len() {
        5 => &FIELDS_5,
        6 => &FIELDS_6,
        n => {
            return Err(invalid(format!(
                "cron {text:?} has {n} fields; expected 5 (minute hour day-of-month month day-of-week), 6 (a leading \
                 seconds field) or a macro ({})",
                MACROS.join(", ")
            )));
        }
    };
    // Check each field alone against an all-`*` expression so that the message names the bad one.
    for (index, field) in fields.iter().enumerate() {
        let mut probe = vec!["*"; fields.len()];
        probe[index] = field;
        if let Err(error) = parser().parse(&probe.join(" ")) {
            return Err(invalid(format!(
                "cron field {} ({}) {field:?} is invalid: {}; {} takes {}, a range a-b, a list a,b or a step */n",
                index + 1,
                names[index],
                croner_message(&error),
                names[index],
                values_of(names[index])
            )));
        }
    }
    parser().parse(text).map_err(|e| invalid(format!("cron {text:?}: {}", croner_message(&e))))
}

/// croner's message without its framing ("Invalid pattern: Component error: Number out of bounds.").
fn croner_message(error: &croner::errors::CronError) -> String {
    let text = error.to_string();
    let text = text.strip_prefix("Invalid pattern: ").unwrap_or(&text);
    let text = text.strip_prefix("Component error: ").unwrap_or(text);
    text.trim_end_matches('.').to_string()
}

/// The values a cron field takes, by its name in [`FIELDS_6`].
fn values_of(field: &str) -> &'static str {
    match field {
        "second" | "minute" => "* or 0-59",
        "hour" => "* or 0-23",
        "day-of-month" => "* or 1-31",
        "month" => "* or 1-12 or JAN-DEC",
        _ => "* or 0-7 (0 and 7 are Sunday) or SUN-SAT",
    }
}

/// A schedule's occurrences: its recurrence with the grid anchor and the bounds it runs within.
#[derive(Debug, Clone)]
pub struct Calendar<'a> {
    pub recurrence: &'a Recurrence,
    /// Slot 0 of an interval grid.
    pub anchor: Timestamp,
    /// No occurrence before this.
    pub not_before: Option<Timestamp>,
    /// No occurrence after this.
    pub end_at: Option<Timestamp>,
}

impl Calendar<'_> {
    /// The first occurrence after `t` (or at `t`, when `inclusive`) within the bounds.
    pub fn next(&self, t: Timestamp, inclusive: bool) -> Option<Timestamp> {
        let (t, inclusive) = match self.not_before {
            Some(start) if start > t || (start == t && !inclusive) => (start, true),
            _ => (t, inclusive),
        };
        let next = self.unbounded_next(t, inclusive)?;
        self.end_at.is_none_or(|end| next <= end).then_some(next)
    }

    fn unbounded_next(&self, t: Timestamp, inclusive: bool) -> Option<Timestamp> {
        match self.recurrence {
            Recurrence::Interval { seconds } => Some(grid_next(self.anchor, *seconds, t, inclusive)),
            Recurrence::Cron(rule) => rule.next(t, inclusive),
            Recurrence::Once { at } => (*at > t || (inclusive && *at == t)).then_some(*at),
        }
    }

    /// How many occurrences fall strictly between `after` and `before` (saturating at 10,000 for cron), and
    /// the last of them.
    pub fn between(&self, after: Timestamp, before: Timestamp) -> (u64, Option<Timestamp>) {
        if before <= after {
            return (0, None);
        }
        if let Recurrence::Interval { seconds } = self.recurrence {
            let interval_ms = timing::seconds(*seconds).as_millis();
            let anchor_ms = i128::from(self.anchor.as_millisecond());
            let offset = |t: Timestamp| i128::from(t.as_millisecond()) - anchor_ms;
            // Grid points k ≥ 0 with after < anchor + k·i < before.
            let first = (offset(after).div_euclid(interval_ms) + 1).max(0);
            let last = (offset(before) - 1).div_euclid(interval_ms);
            let count = u64::try_from(last - first + 1).unwrap_or(0);
            let last_at = (count > 0)
                .then(|| super::from_millis(i64::try_from(anchor_ms + last * interval_ms).unwrap_or(i64::MAX)));
            return (count, last_at);
        }
        let (mut count, mut last) = (0, None);
        let mut t = after;
        while let Some(next) = self.unbounded_next(t, false) {
            if next >= before || count >= MAX_COUNTED {
                break;
            }
            count += 1;
            last = Some(next);
            t = next;
        }
        (count, last)
    }

    /// The time from `slot` to the occurrence after it, ignoring `end_at`; `None` when there is none.
    pub fn gap_after(&self, slot: Timestamp) -> Option<SignedDuration> {
        self.unbounded_next(slot, false).map(|next| next.duration_since(slot))
    }

    /// Up to `count` occurrences from `from` (inclusive), in order.
    pub fn upcoming(&self, from: Timestamp, count: usize) -> Vec<Timestamp> {
        let mut occurrences = Vec::with_capacity(count.min(MAX_OCCURRENCES));
        let mut next = self.next(from, true);
        while let Some(t) = next {
            if occurrences.len() >= count {
                break;
            }
            occurrences.push(t);
            next = self.next(t, false);
        }
        occurrences
    }

    /// The delay added to the occurrence `slot` of schedule `id` for a jitter of up to `jitter_seconds`: spread
    /// evenly by a hash of both (so a re-plan picks the same delay), and always before the next occurrence.
    pub fn jitter(&self, id: Uuid, slot: Timestamp, jitter_seconds: u64) -> SignedDuration {
        if jitter_seconds == 0 {
            return SignedDuration::ZERO;
        }
        let mut bound_ms = i64::try_from(jitter_seconds.min(timing::MAX_INTERVAL_SECONDS) * 1000).unwrap_or(i64::MAX);
        if let Some(gap) = self.gap_after(slot) {
            bound_ms = bound_ms.min(i64::try_from(gap.as_millis()).unwrap_or(i64::MAX) - 1);
        }
        if bound_ms <= 0 {
            return SignedDuration::ZERO;
        }
        let seed = (id.as_u128() as u64) ^ ((id.as_u128() >> 64) as u64) ^ (slot.as_millisecond() as u64);
        let draw = splitmix64(seed) % (bound_ms as u64 + 1);
        SignedDuration::from_millis(i64::try_from(draw).unwrap_or(0))
    }
}

/// The first point of the grid `anchor + k × interval` (k ≥ 0) after `t`, or at `t` when `inclusive`.
fn grid_next(anchor: Timestamp, interval_seconds: u64, t: Timestamp, inclusive: bool) -> Timestamp {
    if t < anchor || (inclusive && t == anchor) {
        return anchor;
    }
    let interval_ms = timing::seconds(interval_seconds).as_millis();
    let offset = i128::from(t.as_millisecond()) - i128::from(anchor.as_millisecond());
    let mut index = offset.div_euclid(interval_ms);
    if !(inclusive && offset.rem_euclid(interval_ms) == 0) {
        index += 1;
    }
    let ms = i128::from(anchor.as_millisecond()) + index * interval_ms;
    super::from_millis(i64::try_from(ms).unwrap_or(i64::MAX))
}

/// A well-mixed 64-bit hash (SplitMix64's finalizer).
fn splitmix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests;
