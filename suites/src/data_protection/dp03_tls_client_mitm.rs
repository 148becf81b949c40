use std::time::Duration;

use hilt_harness::{Capability, CheckMeta};
use hilt_net::rogue::RogueCert;

use super::mitm::{Meeting, MitmSpec};

pub static TLS_MITM_SELF_SIGNED: MitmSpec = MitmSpec {
    meta: CheckMeta {
        name: "tls_client_mitm",
        capability: Capability::DataProtection,
        catalogue_id: "DP-03",
        title: "TLS client refuses a self-signed man in the middle",
        expected: "the device aborts the handshake with a server presenting a self-signed certificate for the right host name, and sends it no data",
        nistir_8259a: &["DP-1"],
        en_303_645: &["5.5-1", "5.3-10"],
        ts_103_701: &["5.5-1-2"],
        cra_annex_i: &["e"],
        destructive: true,
        default_timeout: Duration::from_secs(60),
        params: &[],
    },
    unjudged_without_test_ca: None,
    meetings: |client, ca| {
        let mut meetings = Vec::new();
        // With a test CA the client trusts, a control shows the path to
        // the rogue server works, so a silent abort still counts.
        if let Some(ca) = ca {
            meetings.push(Meeting {
                label: "trusted_ca_right_name",
                cert: RogueCert::WrongHostname {
                    ca,
                    wrong_name: client.server_name.clone(),
                },
                must_accept: true,
            });
        }
        meetings.push(Meeting {
            label: "self_signed",
            cert: RogueCert::SelfSigned,
            must_accept: false,
        });
        meetings
    },
};
