//! NIST IR 8259B items a host cannot test: reported as DECLARED with the
//! declared values, for manual review, never as PASS.

use std::sync::Arc;

use hilt_harness::Check;

mod nt01_support_period;
mod nt02_vulnerability_disclosure;

pub fn checks() -> Vec<Arc<dyn Check>> {
    vec![
        Arc::new(nt01_support_period::SupportPeriod),
        Arc::new(nt02_vulnerability_disclosure::DisclosurePolicy),
    ]
}
