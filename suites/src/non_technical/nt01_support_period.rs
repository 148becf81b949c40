use std::time::Duration;

use hilt_harness::board::Board;
use hilt_harness::context::CheckContext;
use hilt_harness::{Applicability, Capability, Check, CheckError, CheckMeta, Finding};

pub struct SupportPeriod;

static SUPPORT_PERIOD: CheckMeta = CheckMeta {
    name: "support_period",
    capability: Capability::NonTechnical,
    catalogue_id: "NT-01",
    title: "Published support period",
    expected: "a defined support period is published (manual review)",
    nistir_8259a: &[],
    en_303_645: &["5.3-13"],
    ts_103_701: &["5.3-13-1"],
    cra_annex_i: &[],
    destructive: false,
    default_timeout: Duration::from_secs(5),
    params: &[],
};

impl Check for SupportPeriod {
    fn meta(&self) -> &CheckMeta {
        &SUPPORT_PERIOD
    }

    fn applicability(&self, _board: &Board) -> Applicability {
        Applicability::Applicable
    }

    fn run(&self, ctx: &mut CheckContext) -> Result<Finding, CheckError> {
        let support = ctx.board().spec.declares.support.clone();
        match support.and_then(|s| s.end_of_support) {
            Some(date) => Ok(Finding::declared(format!(
                "declared end of support: {date}"
            ))),
            None => Ok(Finding::fail(
                "no support period is declared",
                "declares.support.end_of_support is absent",
            )),
        }
    }
}
