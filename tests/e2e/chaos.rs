//! The quick chaos run: workers killed and frozen and Redis restarted under load lose no run.

use std::process::Command;

use crate::support::binary;

#[test]
fn the_quick_chaos_run_loses_no_run_and_leaves_no_schedule_stuck() {
    let output = Command::new(binary("recur-chaos")).arg("--quick").output().expect("run recur-chaos");
    let report = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{report}");
    assert!(report.contains(" lost 0, ") && report.contains("schedules stuck 0"), "{report}");
}
