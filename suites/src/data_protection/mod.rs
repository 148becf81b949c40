//! Data Protection (NIST IR 8259A DP-1, DP-2, DP-3): the device's TLS
//! server, its TLS client under man-in-the-middle attack, and credentials
//! on the wire.

use std::sync::Arc;

use hilt_harness::Check;

mod au05_cleartext_credentials;
mod capture;
mod dp01_passive_traffic;
mod dp02_tls_server;
mod dp03_tls_client_mitm;
mod dp04_tls_client_chain_validation;
mod dp06_tls_downgrade;
mod dp10_unauthenticated_erase;
mod every_client;
mod mitm;
use mitm::TlsClientMitm;

pub fn checks() -> Vec<Arc<dyn Check>> {
    vec![
        Arc::new(dp01_passive_traffic::PassiveTraffic),
        Arc::new(au05_cleartext_credentials::CleartextCredentials),
        Arc::new(dp02_tls_server::TlsServer),
        Arc::new(TlsClientMitm(&dp03_tls_client_mitm::TLS_MITM_SELF_SIGNED)),
        Arc::new(TlsClientMitm(
            &dp04_tls_client_chain_validation::TLS_MITM_CHAIN,
        )),
        Arc::new(dp06_tls_downgrade::TlsDowngrade),
        Arc::new(dp10_unauthenticated_erase::UnauthenticatedErase),
    ]
}
