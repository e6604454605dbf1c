use proptest::prelude::*;

use super::*;

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn cron(expression: &str, timezone: &str) -> Recurrence {
    Recurrence::Cron(Box::new(CronRule::parse(expression, timezone).unwrap()))
}

fn calendar(recurrence: &Recurrence) -> Calendar<'_> {
    Calendar { recurrence, anchor: at("2026-01-01T00:00:00Z"), not_before: None, end_at: None }
}

/// The occurrences of `expression` in `timezone` from `from` (inclusive), as RFC 3339 UTC strings.
fn occurrences(expression: &str, timezone: &str, from: &str, count: usize) -> Vec<String> {
    let recurrence = cron(expression, timezone);
    calendar(&recurrence).upcoming(at(from), count).iter().map(|t| crate::model::rfc3339(*t)).collect()
}

fn error_of(expression: &str, timezone: &str) -> (&'static str, String) {
    match CronRule::parse(expression, timezone) {
        Err(Error::Invalid { code, message, .. }) => (code, message),
        other => panic!("{expression:?} in {timezone}: expected an invalid error, got {other:?}"),
    }
}

// ---- dialect -----------------------------------------------------------------------------------------

#[test]
fn five_fields_minute_hour_dom_month_dow() {
    // 09:30 on weekdays: Friday 2026-01-02, then Monday 2026-01-05 (1-5 is Monday to Friday).
    assert_eq!(
        occurrences("30 9 * * 1-5", "UTC", "2026-01-02T00:00:00Z", 2),
        ["2026-01-02T09:30:00Z", "2026-01-05T09:30:00Z"]
    );
}

#[test]
fn six_fields_have_a_leading_seconds_field() {
    assert_eq!(
        occurrences("*/20 * * * * *", "UTC", "2026-01-01T00:00:01Z", 3),
        ["2026-01-01T00:00:20Z", "2026-01-01T00:00:40Z", "2026-01-01T00:01:00Z"]
    );
}

#[test]
fn zero_and_seven_are_sunday_and_names_work() {
    let sundays = ["2026-01-04T00:00:00Z", "2026-01-11T00:00:00Z"];
    for expression in ["0 0 * * 0", "0 0 * * 7", "0 0 * * SUN", "0 0 * * sun"] {
        assert_eq!(occurrences(expression, "UTC", "2026-01-01T00:00:00Z", 2), sundays, "{expression}");
    }
    assert_eq!(
        occurrences("0 0 1 FEB,MAR *", "UTC", "2026-01-01T00:00:00Z", 2),
        ["2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z"]
    );
}

#[test]
fn ranges_lists_and_steps() {
    assert_eq!(
        occurrences("0 8-18/5 * * *", "UTC", "2026-01-01T00:00:00Z", 4),
        ["2026-01-01T08:00:00Z", "2026-01-01T13:00:00Z", "2026-01-01T18:00:00Z", "2026-01-02T08:00:00Z"]
    );
    assert_eq!(
        occurrences("0,45 12 * * *", "UTC", "2026-01-01T00:00:00Z", 2),
        ["2026-01-01T12:00:00Z", "2026-01-01T12:45:00Z"]
    );
}

#[test]
fn day_of_month_and_day_of_week_both_restricted_means_either() {
    // The 13th, or any Friday: Fri 2 Jan, Fri 9 Jan, Tue 13 Jan, Fri 16 Jan.
    assert_eq!(
        occurrences("0 0 13 * FRI", "UTC", "2026-01-01T00:00:00Z", 4),
        ["2026-01-02T00:00:00Z", "2026-01-09T00:00:00Z", "2026-01-13T00:00:00Z", "2026-01-16T00:00:00Z"]
    );
}

#[test]
fn macros() {
    let from = "2026-01-01T00:30:00Z";
    assert_eq!(occurrences("@hourly", "UTC", from, 1), ["2026-01-01T01:00:00Z"]);
    assert_eq!(occurrences("@daily", "UTC", from, 1), ["2026-01-02T00:00:00Z"]);
    assert_eq!(occurrences("@weekly", "UTC", from, 1), ["2026-01-04T00:00:00Z"]);
    assert_eq!(occurrences("@monthly", "UTC", from, 1), ["2026-02-01T00:00:00Z"]);
    assert_eq!(occurrences("@yearly", "UTC", from, 1), ["2027-01-01T00:00:00Z"]);
}

#[test]
fn errors_name_the_bad_field() {
    let (code, message) = error_of("0 25 * * *", "UTC");
    assert_eq!(code, "invalid_cron");
    assert_eq!(
        message,
        "cron field 2 (hour) \"25\" is invalid: Number out of bounds; hour takes * or 0-23, a range a-b, a list a,b or \
         a step */n"
    );
    let (_, message) = error_of("0 0 0 * *", "UTC");
    assert!(message.contains("field 3 (day-of-month)"), "{message}");
    let (_, message) = error_of("0 0 0 0 * *", "UTC");
    assert!(message.contains("field 4 (day-of-month)"), "{message}");
    let (_, message) = error_of("* * * 13 *", "UTC");
    assert!(message.contains("field 4 (month)"), "{message}");
    let (_, message) = error_of("* * * * MON-FOO", "UTC");
    assert!(message.contains("field 5 (day-of-week)"), "{message}");
    let (_, message) = error_of("0 9 * *", "UTC");
    assert!(message.contains("has 4 fields"), "{message}");
    let (_, message) = error_of("0 0 9 * * * 2027", "UTC");
    assert!(message.contains("has 7 fields"), "{message}");
    let (_, message) = error_of("CRON_TZ=Europe/Berlin 0 9 * * *", "UTC");
    assert_eq!(
        message,
        r#"cron takes no zone prefix: leave "CRON_TZ=Europe/Berlin" out and send "timezone": "Europe/Berlin""#
    );
    let (_, message) = error_of("@reboot", "UTC");
    assert!(message.contains("@reboot"), "{message}");
    let (code, message) = error_of("0 9 * * *", "Mars/Olympus");
    assert_eq!(code, "invalid_timezone");
    assert!(message.contains("Mars/Olympus"), "{message}");
}

// ---- DST -----------------------------------------------------------------------------------------------

#[test]
fn new_york_a_time_in_the_skipped_hour_fires_once_right_after_the_jump() {
    // 2026-03-08 02:00 EST jumps to 03:00 EDT (07:00Z). 02:30 does not exist that day.
    assert_eq!(
        occurrences("30 2 * * *", "America/New_York", "2026-03-07T12:00:00Z", 3),
        ["2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z", "2026-03-10T06:30:00Z"]
    );
}

#[test]
fn new_york_a_time_in_the_repeated_hour_fires_once_on_its_first_pass() {
    // 2026-11-01 02:00 EDT falls back to 01:00 EST (06:00Z); 01:30 passes at 05:30Z and again at 06:30Z.
    assert_eq!(
        occurrences("30 1 * * *", "America/New_York", "2026-10-31T12:00:00Z", 3),
        ["2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z", "2026-11-03T06:30:00Z"]
    );
}

#[test]
fn new_york_interval_style_fields_run_by_real_elapsed_time_through_both_transitions() {
    assert_eq!(
        occurrences("*/30 * * * *", "America/New_York", "2026-03-08T06:00:00Z", 4),
        ["2026-03-08T06:00:00Z", "2026-03-08T06:30:00Z", "2026-03-08T07:00:00Z", "2026-03-08T07:30:00Z"]
    );
    assert_eq!(
        occurrences("*/30 * * * *", "America/New_York", "2026-11-01T05:00:00Z", 5),
        [
            "2026-11-01T05:00:00Z",
            "2026-11-01T05:30:00Z",
            "2026-11-01T06:00:00Z",
            "2026-11-01T06:30:00Z",
            "2026-11-01T07:00:00Z"
        ]
    );
    assert_eq!(
        occurrences("0 * * * *", "America/New_York", "2026-11-01T04:00:00Z", 4),
        ["2026-11-01T04:00:00Z", "2026-11-01T05:00:00Z", "2026-11-01T06:00:00Z", "2026-11-01T07:00:00Z"]
    );
}

#[test]
fn berlin_both_transitions() {
    // 2026-03-29 02:00 CET jumps to 03:00 CEST (01:00Z); 2026-10-25 03:00 CEST falls back to 02:00 CET (01:00Z).
    assert_eq!(
        occurrences("30 2 * * *", "Europe/Berlin", "2026-03-28T12:00:00Z", 2),
        ["2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"]
    );
    assert_eq!(
        occurrences("30 2 * * *", "Europe/Berlin", "2026-10-24T12:00:00Z", 2),
        ["2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"]
    );
    assert_eq!(
        occurrences("*/20 * * * *", "Europe/Berlin", "2026-10-25T00:20:00Z", 5),
        [
            "2026-10-25T00:20:00Z",
            "2026-10-25T00:40:00Z",
            "2026-10-25T01:00:00Z",
            "2026-10-25T01:20:00Z",
            "2026-10-25T01:40:00Z"
        ]
    );
}

#[test]
fn lord_howe_thirty_minute_shift() {
    // 2026-10-04 02:00 +10:30 jumps to 02:30 +11 (15:30Z on the 3rd): 02:15 does not exist.
    assert_eq!(
        occurrences("15 2 * * *", "Australia/Lord_Howe", "2026-10-03T00:00:00Z", 2),
        ["2026-10-03T15:30:00Z", "2026-10-04T15:15:00Z"]
    );
    // 2026-04-05 02:00 +11 falls back to 01:30 +10:30 (15:00Z on the 4th): 01:45 passes twice.
    assert_eq!(
        occurrences("45 1 * * *", "Australia/Lord_Howe", "2026-04-04T00:00:00Z", 2),
        ["2026-04-04T14:45:00Z", "2026-04-05T15:15:00Z"]
    );
    assert_eq!(
        occurrences("*/15 * * * *", "Australia/Lord_Howe", "2026-04-04T14:30:00Z", 5),
        [
            "2026-04-04T14:30:00Z",
            "2026-04-04T14:45:00Z",
            "2026-04-04T15:00:00Z",
            "2026-04-04T15:15:00Z",
            "2026-04-04T15:30:00Z"
        ]
    );
}

#[test]
fn kolkata_has_no_transitions() {
    assert_eq!(
        occurrences("30 2 * * *", "Asia/Kolkata", "2026-03-07T00:00:00Z", 3),
        ["2026-03-07T21:00:00Z", "2026-03-08T21:00:00Z", "2026-03-09T21:00:00Z"]
    );
    assert_eq!(
        occurrences("30 2 * * *", "Asia/Kolkata", "2026-10-31T00:00:00Z", 2),
        ["2026-10-31T21:00:00Z", "2026-11-01T21:00:00Z"]
    );
}

// ---- bounds, counts, jitter ------------------------------------------------------------------------------

#[test]
fn bounds_hold_for_every_kind() {
    let every_minute = cron("* * * * *", "UTC");
    let bounded = Calendar {
        recurrence: &every_minute,
        anchor: at("2026-01-01T00:00:00Z"),
        not_before: Some(at("2026-01-01T00:10:30Z")),
        end_at: Some(at("2026-01-01T00:13:00Z")),
    };
    let upcoming: Vec<_> = bounded.upcoming(at("2026-01-01T00:00:00Z"), 10);
    assert_eq!(upcoming, [at("2026-01-01T00:11:00Z"), at("2026-01-01T00:12:00Z"), at("2026-01-01T00:13:00Z")]);

    let once = Recurrence::Once { at: at("2026-01-01T00:05:00Z") };
    assert_eq!(calendar(&once).upcoming(at("2026-01-01T00:00:00Z"), 10), [at("2026-01-01T00:05:00Z")]);
    assert_eq!(calendar(&once).next(at("2026-01-01T00:05:00Z"), false), None);

    let interval = Recurrence::Interval { seconds: 60 };
    let ended = Calendar { end_at: Some(at("2026-01-01T00:02:00Z")), ..calendar(&interval) };
    assert_eq!(
        ended.upcoming(at("2026-01-01T00:00:30Z"), 10),
        [at("2026-01-01T00:01:00Z"), at("2026-01-01T00:02:00Z")]
    );
}

#[test]
fn an_expression_that_never_matches_has_no_occurrence() {
    let february_30 = cron("0 0 30 2 *", "UTC");
    assert_eq!(calendar(&february_30).next(at("2026-01-01T00:00:00Z"), true), None);
}

#[test]
fn skipped_occurrences_are_counted_exactly() {
    let interval = Recurrence::Interval { seconds: 60 };
    let grid = calendar(&interval);
    assert_eq!(
        grid.between(at("2026-01-01T00:00:00Z"), at("2026-01-01T00:06:00Z")),
        (5, Some(at("2026-01-01T00:05:00Z")))
    );
    assert_eq!(grid.between(at("2026-01-01T00:00:00Z"), at("2026-01-01T00:00:59Z")), (0, None));
    let every_minute = cron("* * * * *", "UTC");
    let cron_calendar = calendar(&every_minute);
    assert_eq!(
        cron_calendar.between(at("2026-01-01T00:00:00Z"), at("2026-01-01T00:06:00Z")),
        (5, Some(at("2026-01-01T00:05:00Z")))
    );
}

#[test]
fn jitter_is_stable_and_never_reaches_the_next_occurrence() {
    let interval = Recurrence::Interval { seconds: 10 };
    let grid = calendar(&interval);
    let id = Uuid::from_u128(42);
    let slot = at("2026-01-01T00:01:00Z");
    assert_eq!(grid.jitter(id, slot, 3600), grid.jitter(id, slot, 3600));
    for k in 0..200 {
        let slot = slot + SignedDuration::from_secs(10 * k);
        let jitter = grid.jitter(Uuid::from_u128(u128::from(k as u64) * 7919), slot, 3600);
        assert!(jitter < SignedDuration::from_secs(10) && jitter >= SignedDuration::ZERO, "{jitter:?}");
    }
    assert_eq!(grid.jitter(id, slot, 0), SignedDuration::ZERO);
}

proptest! {
    #[test]
    fn the_grid_next_is_on_the_grid_and_after_t(interval in 1u64..100_000, offset_ms in -10_000_000i64..10_000_000_000) {
        let anchor = at("2026-01-01T00:00:00Z");
        let t = anchor + SignedDuration::from_millis(offset_ms);
        let next = grid_next(anchor, interval, t, false);
        prop_assert!(next > t);
        prop_assert!(next >= anchor);
        prop_assert_eq!(next.duration_since(anchor).as_millis() % i128::from(interval * 1000), 0);
        prop_assert!(t < anchor || next.duration_since(t) <= SignedDuration::from_secs(i64::try_from(interval).unwrap()));
    }

    #[test]
    fn cron_occurrences_are_strictly_increasing(minute in 0u32..60, hour in 0u32..24, days in 0i64..730) {
        let expression = format!("{minute} {hour} * * *");
        for zone in ["America/New_York", "Europe/Berlin", "Australia/Lord_Howe"] {
            let recurrence = cron(&expression, zone);
            let from = at("2026-01-01T00:00:00Z") + SignedDuration::from_hours(24 * days);
            let upcoming = calendar(&recurrence).upcoming(from, 3);
            prop_assert_eq!(upcoming.len(), 3);
            prop_assert!(upcoming.windows(2).all(|w| w[0] < w[1]));
            // A daily time fires once a day: consecutive runs are 23 to 25 hours apart.
            for w in upcoming.windows(2) {
                let gap = w[1].duration_since(w[0]);
                prop_assert!(gap >= SignedDuration::from_hours(23) && gap <= SignedDuration::from_hours(25), "{:?}", w);
            }
        }
    }
}

/// The examples table of `docs/cron.md`: every row's occurrences, computed.
#[test]
fn the_examples_in_docs_cron_md_hold() {
    let page = include_str!("../../../../docs/cron.md");
    let table =
        page.split("<!-- examples -->").nth(1).and_then(|rest| rest.split("<!-- /examples -->").next()).unwrap();
    let rows: Vec<Vec<&str>> = table
        .lines()
        .filter(|line| line.starts_with("| `"))
        .map(|line| line.trim_matches('|').split('|').map(|cell| cell.trim().trim_matches('`')).collect())
        .collect();
    assert!(rows.len() >= 10, "the table lost its rows");
    for row in rows {
        let [expression, timezone, from, expected] = row[..] else { panic!("row {row:?}") };
        let expected: Vec<&str> = expected.split(", ").collect();
        assert_eq!(occurrences(expression, timezone, from, expected.len()), expected, "{expression} in {timezone}");
    }
}
