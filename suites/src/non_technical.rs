//! NIST IR 8259B items a host cannot test: reported as DECLARED with the
//! declared values, for manual review, never as PASS.

use std::sync::Arc;
use std::time::Duration;

use hilt_harness::board::Board;
use hilt_harness::context::CheckContext;
use hilt_harness::{Applicability, Capability, Check, CheckError, CheckMeta, Finding};

pub fn checks() -> Vec<Arc<dyn Check>> {
    vec![Arc::new(SupportPeriod), Arc::new(DisclosurePolicy)]
}

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

pub struct DisclosurePolicy;

static DISCLOSURE_POLICY: CheckMeta = CheckMeta {
    name: "vulnerability_disclosure",
    capability: Capability::NonTechnical,
    catalogue_id: "NT-02",
    title: "Vulnerability disclosure policy and contact",
    expected: "a public disclosure policy and a contact exist (manual review)",
    nistir_8259a: &[],
    en_303_645: &["5.2-1"],
    ts_103_701: &["5.2-1-1"],
    cra_annex_i: &[],
    destructive: false,
    default_timeout: Duration::from_secs(5),
    params: &[],
};

impl Check for DisclosurePolicy {
    fn meta(&self) -> &CheckMeta {
        &DISCLOSURE_POLICY
    }

    fn run(&self, ctx: &mut CheckContext) -> Result<Finding, CheckError> {
        let support = ctx.board().spec.declares.support.clone();
        let (contact, policy) = support
            .map(|s| (s.vulnerability_contact, s.disclosure_policy))
            .unwrap_or((None, None));
        match (contact, policy) {
            (None, None) => Ok(Finding::fail(
                "neither a vulnerability contact nor a disclosure policy is declared",
                "declares.support has no vulnerability_contact or disclosure_policy",
            )),
            (contact, policy) => Ok(Finding::declared(format!(
                "contact: {}; policy: {}",
                contact.unwrap_or_else(|| "(none)".into()),
                policy.unwrap_or_else(|| "(none)".into())
            ))),
        }
    }
}
