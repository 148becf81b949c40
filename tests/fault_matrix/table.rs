//! The outcome of one faulted trial, and the markdown table of them all
//! (pasted into docs/fault-matrix.md).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::fault::Fault;

/// Where in the check a fault is aimed: already in place when the check
/// starts, or at a fraction of the check's undisturbed duration.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub enum Point {
    Before,
    At(f64),
}

impl Point {
    pub fn label(self) -> String {
        match self {
            Point::Before => "before".into(),
            Point::At(f) => format!("{f}"),
        }
    }
}

/// Where the fault actually landed, from the record's own clock.
#[derive(Debug, Clone, Copy)]
pub enum Landing {
    /// In place before the check began.
    Before,
    /// At this fraction of the check's (disturbed) duration.
    Inside(f64),
    /// After the check had ended: the trial ran undisturbed.
    After,
    /// After the check's last exchange with the device, the control that
    /// showed it alive at the end (its measurement `alive_after_check_ms`):
    /// nothing of the check was left to disturb.
    AfterControl,
    /// No trial, or the fault never went in.
    Unknown,
}

impl Landing {
    pub fn of(landed_ms: Option<i64>, start_ms: u64, end_ms: u64, control_ms: Option<u64>) -> Self {
        let Some(at) = landed_ms else {
            return Landing::Unknown;
        };
        let (start, end) = (start_ms as i64, end_ms as i64);
        // A fault takes a few ms to bite: a killed process's sockets close
        // as it is torn down, and what the device wrote just before (a TLS
        // server's whole flight) is still delivered. The control's time is
        // also taken when it returns, after its last exchange. A fault less
        // than this before the control's end could not have changed it.
        const IN_FLIGHT_MS: i64 = 50;
        let control_end = control_ms.map(|c| start + c as i64 - IN_FLIGHT_MS);
        if at <= start {
            Landing::Before
        } else if control_end.is_some_and(|c| at >= c) && at < end {
            Landing::AfterControl
        } else if at >= end {
            Landing::After
        } else {
            Landing::Inside((at - start) as f64 / (end - start).max(1) as f64)
        }
    }

    /// Whether the check ran to its end without the fault.
    pub fn undisturbed(self) -> bool {
        matches!(self, Landing::After | Landing::AfterControl)
    }

    fn label(self) -> String {
        match self {
            Landing::Before => "before".into(),
            Landing::Inside(f) => format!("at {f:.2}"),
            Landing::After => "after the end".into(),
            Landing::AfterControl => "after the final control".into(),
            Landing::Unknown => "?".into(),
        }
    }
}

pub struct Outcome {
    pub check: String,
    pub fault: Fault,
    pub point: Point,
    pub landing: Landing,
    pub verdict: String,
    pub reason: String,
    pub duration_ms: u64,
    /// What broke the matrix's rules; empty when the trial held.
    pub problems: Vec<String>,
}

impl Outcome {
    pub fn summary(&self) -> String {
        format!(
            "{} {}@{} [landed {}, {:.1} s]: {} ({})",
            self.check,
            self.fault.name(),
            self.point.label(),
            self.landing.label(),
            self.duration_ms as f64 / 1000.0,
            self.verdict,
            cut(&self.reason, 300)
        )
    }
}

/// A reason on one line, at most `max` characters (a port list can be long).
fn cut(reason: &str, max: usize) -> String {
    let one_line = reason.replace(['\n', '|'], " ");
    let mut out: String = one_line.chars().take(max).collect();
    if one_line.chars().count() > max {
        out.push('…');
    }
    out
}

/// Rows: check × fault; columns: the points; cells: verdict, where the
/// fault landed, and the reason.
pub fn markdown(outcomes: &[Outcome], points: &[Point]) -> String {
    let mut rows: BTreeMap<(String, Fault), Vec<&Outcome>> = BTreeMap::new();
    for o in outcomes {
        rows.entry((o.check.clone(), o.fault)).or_default().push(o);
    }
    let mut table = String::from("| check | fault |");
    for p in points {
        let _ = write!(table, " {} |", p.label());
    }
    table.push_str("\n|---|---|");
    for _ in points {
        table.push_str("---|");
    }
    table.push('\n');
    for ((check, fault), cells) in rows {
        let _ = write!(table, "| `{check}` | {} |", fault.name());
        for p in points {
            match cells.iter().find(|o| o.point == *p) {
                Some(o) => {
                    let flag = if o.problems.is_empty() { "" } else { " ❌" };
                    let _ = write!(
                        table,
                        " **{}**{flag} ({}): {} |",
                        o.verdict,
                        o.landing.label(),
                        cut(&o.reason, 90)
                    );
                }
                None => table.push_str(" – |"),
            }
        }
        table.push('\n');
    }
    table
}
