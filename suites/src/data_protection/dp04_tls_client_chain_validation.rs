use std::time::Duration;

use hilt_harness::{Capability, CheckMeta};
use hilt_net::rogue::RogueCert;

use super::mitm::{Meeting, MitmSpec};

pub static TLS_MITM_CHAIN: MitmSpec = MitmSpec {
    meta: CheckMeta {
        name: "tls_client_chain_validation",
        capability: Capability::DataProtection,
        catalogue_id: "DP-04",
        title: "TLS client validates issuer, host name and validity period",
        expected: "the device refuses a certificate from an untrusted CA, one from its trusted CA for another host name, and an expired one from its trusted CA; it accepts a valid one (control)",
        nistir_8259a: &["DP-1"],
        en_303_645: &["5.5-1"],
        ts_103_701: &["5.5-1-2"],
        cra_annex_i: &["e"],
        destructive: true,
        default_timeout: Duration::from_secs(90),
        params: &[],
    },
    // Without the client's test CA only the issuer is judged: a
    // certificate for another name or out of date needs a CA it trusts.
    unjudged_without_test_ca: Some("host name and validity period"),
    meetings: |client, ca| {
        let untrusted = Meeting {
            label: "untrusted_ca",
            cert: RogueCert::UntrustedCa,
            must_accept: false,
        };
        let Some(ca) = ca else { return vec![untrusted] };
        vec![
            Meeting {
                label: "trusted_ca_right_name",
                cert: RogueCert::WrongHostname {
                    ca: ca.clone(),
                    wrong_name: client.server_name.clone(),
                },
                must_accept: true,
            },
            untrusted,
            Meeting {
                label: "wrong_hostname",
                cert: RogueCert::WrongHostname {
                    ca: ca.clone(),
                    wrong_name: format!("not-{}", client.server_name),
                },
                must_accept: false,
            },
            Meeting {
                label: "expired",
                cert: RogueCert::Expired { ca: Some(ca) },
                must_accept: false,
            },
        ]
    },
};
