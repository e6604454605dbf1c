//! Durations and retry backoff as pure functions (`docs/cron.md`); occurrences live in `model::Calendar`.

use jiff::{SignedDuration, Timestamp};

/// Largest interval (and timeout) accepted: one year. Keeps every product of it far inside jiff's range.
pub const MAX_INTERVAL_SECONDS: u64 = 366 * 24 * 3600;

/// `n` seconds as a duration, clamped far inside jiff's range.
pub fn seconds(n: u64) -> SignedDuration {
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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn backoff_doubles_from_one_interval_and_is_capped_at_ten() {
        let delays: Vec<i64> = (1..=7).map(|retry| retry_delay(60, retry).as_secs()).collect();
        assert_eq!(delays, [60, 120, 240, 480, 600, 600, 600]);
    }

    proptest! {
        #[test]
        fn backoff_is_monotonic_and_within_one_to_ten_intervals(interval in 1u64..=MAX_INTERVAL_SECONDS, retry in 1u32..200) {
            let delay = retry_delay(interval, retry).as_secs();
            prop_assert!(delay >= retry_delay(interval, retry.saturating_sub(1).max(1)).as_secs());
            prop_assert!(delay >= i64::try_from(interval).unwrap());
            prop_assert!(delay <= i64::try_from(interval * 10).unwrap());
        }
    }
}
