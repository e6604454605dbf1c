//! Fixed-rate timing and retry backoff as pure functions of "now" (spec §3.2).

use jiff::{SignedDuration, Timestamp};

/// Largest interval (and timeout) accepted: one year. Keeps every product of it far inside jiff's range.
pub const MAX_INTERVAL_SECONDS: u64 = 366 * 24 * 3600;

fn seconds(n: u64) -> SignedDuration {
    SignedDuration::from_secs(i64::try_from(n.min(MAX_INTERVAL_SECONDS * 16)).unwrap_or(i64::MAX / 2))
}

/// `now` plus `n` seconds.
pub fn after_seconds(now: Timestamp, n: u64) -> Timestamp {
    now.saturating_add(seconds(n)).unwrap_or(now)
}

/// The delay before retry number `retry` (1 for the first retry): `min(interval × 2^(retry − 1), 10 × interval)`.
pub fn retry_delay(interval_seconds: u64, retry: u32) -> SignedDuration {
    let factor = 1u64.checked_shl(retry.saturating_sub(1)).unwrap_or(u64::MAX).min(10);
    seconds(interval_seconds.saturating_mul(factor))
}

/// The first slot of the grid `anchor + k × interval` strictly after the later of `now` and `slot_run`,
/// and how many slots between `slot_run` and that slot were skipped.
pub fn next_slot(anchor: Timestamp, interval_seconds: u64, slot_run: Timestamp, now: Timestamp) -> (Timestamp, u64) {
    let interval_ms = seconds(interval_seconds).as_millis().max(1);
    let anchor_ms = i128::from(anchor.as_millisecond());
    let slot_index = |t: Timestamp| (i128::from(t.as_millisecond()) - anchor_ms).div_euclid(interval_ms);
    let after = slot_run.max(now);
    let next_index = if after < anchor { 0 } else { slot_index(after) + 1 };
    let run_index = slot_index(slot_run);
    let missed = u64::try_from(next_index - run_index - 1).unwrap_or(0);
    let next_ms = i64::try_from(anchor_ms + next_index * interval_ms).unwrap_or(i64::MAX);
    (super::model::from_millis(next_ms), missed)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn backoff_doubles_from_one_interval_and_is_capped_at_ten() {
        let delays: Vec<i64> = (1..=7).map(|retry| retry_delay(60, retry).as_secs()).collect();
        assert_eq!(delays, [60, 120, 240, 480, 600, 600, 600]);
    }

    #[test]
    fn a_run_that_took_a_few_seconds_does_not_shift_the_grid() {
        let anchor = at("2026-01-01T00:00:00Z");
        let (next, missed) = next_slot(anchor, 60, anchor, at("2026-01-01T00:00:03Z"));
        assert_eq!((next, missed), (at("2026-01-01T00:01:00Z"), 0));
    }

    #[test]
    fn missed_slots_are_skipped_and_counted_not_replayed() {
        let anchor = at("2026-01-01T00:00:00Z");
        let (next, missed) = next_slot(anchor, 60, anchor, at("2026-01-01T00:05:30Z"));
        assert_eq!((next, missed), (at("2026-01-01T00:06:00Z"), 5));
    }

    #[test]
    fn a_run_finishing_exactly_on_a_slot_skips_that_slot() {
        let anchor = at("2026-01-01T00:00:00Z");
        let (next, missed) = next_slot(anchor, 60, anchor, at("2026-01-01T00:01:00Z"));
        assert_eq!((next, missed), (at("2026-01-01T00:02:00Z"), 1));
    }

    #[test]
    fn a_retry_that_succeeds_goes_back_to_the_grid() {
        let anchor = at("2026-01-01T00:00:00Z");
        let retry_due = at("2026-01-01T00:01:00Z");
        let (next, missed) = next_slot(anchor, 60, retry_due, at("2026-01-01T00:01:01Z"));
        assert_eq!((next, missed), (at("2026-01-01T00:02:00Z"), 0));
    }

    #[test]
    fn an_anchor_in_the_future_is_the_next_slot() {
        let anchor = at("2026-01-01T00:10:00Z");
        let (next, _) = next_slot(anchor, 60, at("2026-01-01T00:00:00Z"), at("2026-01-01T00:00:00Z"));
        assert_eq!(next, anchor);
    }

    proptest! {
        #[test]
        fn backoff_is_monotonic_and_within_one_to_ten_intervals(interval in 1u64..=MAX_INTERVAL_SECONDS, retry in 1u32..200) {
            let delay = retry_delay(interval, retry).as_secs();
            prop_assert!(delay >= retry_delay(interval, retry.saturating_sub(1).max(1)).as_secs());
            prop_assert!(delay >= i64::try_from(interval).unwrap());
            prop_assert!(delay <= i64::try_from(interval * 10).unwrap());
        }

        #[test]
        fn next_slot_is_on_the_grid_and_strictly_after_now(
            interval in 1u64..100_000, offset_ms in 0i64..10_000_000_000, lateness_ms in 0i64..10_000_000,
        ) {
            let anchor = at("2026-01-01T00:00:00Z");
            let slot_run = anchor + SignedDuration::from_millis(offset_ms);
            let now = slot_run + SignedDuration::from_millis(lateness_ms);
            let (next, _) = next_slot(anchor, interval, slot_run, now);
            prop_assert!(next > now);
            prop_assert_eq!(next.duration_since(anchor).as_millis() % i128::from(interval * 1000), 0);
            prop_assert!(next.duration_since(now) <= SignedDuration::from_secs(i64::try_from(interval).unwrap()));
        }
    }
}
