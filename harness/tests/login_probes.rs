//! The login drivers against real daemons nobody here wrote, each in a
//! network namespace of this test (hilt-cr-*, 198.19.41.0/24 and up) with
//! made-up accounts: busybox telnetd running Debian's `/bin/login`.
//! Needs root (namespaces), busybox, openssl; CI runs as root.

mod support;

use std::time::Duration;

use hilt_harness::board::{Board, Secret};
use hilt_harness::driver::login::{self, LoginProbe, Outcome, Target};
use hilt_harness::scrub::Scrubber;
use hilt_harness::stop::StopSignal;
use hilt_net::Link;
use support::netns_device::{require_tool, Device};

const PASSWORD: &str = "Kx9-vault-Lm2q";

fn board(device: &Device, interfaces: &str) -> Board {
    std::fs::write(device.path("pw"), format!("{PASSWORD}\n")).expect("pw");
    let file = device.path("board.yaml");
    std::fs::write(
        &file,
        format!(
            "board: t\nmodel: m\nhardware:\n  network: {{ address: {}, interface: {}, host_address: {} }}\n\
             declares:\n  accounts: {{ operator: {{ password: 'file:pw' }} }}\n  interfaces:\n{interfaces}",
            device.address, device.host_if, device.host_address
        ),
    )
    .expect("board file");
    Board::load(&file).expect("board file loads")
}

fn probe(board: &Board, index: usize) -> Box<dyn LoginProbe> {
    let network = board.spec.hardware.network.as_ref().expect("network");
    let link = Link::new(
        network.address,
        network.interface.clone(),
        network.host_address,
    )
    .expect("link");
    let stop = StopSignal::after(Duration::from_secs(60));
    login::probe_for(Target {
        board,
        interface: &board.spec.declares.interfaces[index],
        link: &link,
        stop: &stop,
        scrubber: Scrubber::new(&board.secret_values()),
    })
    .expect("driver")
    .expect("a driver for the service")
}

#[test]
fn telnet_login_through_busybox_telnetd_and_debian_login() {
    require_tool("busybox");
    require_tool("openssl");
    let mut device = Device::new("hilt-cr-t1", "198.19.41");
    device.accounts(&[("operator", PASSWORD), ("admin", "admin")]);
    device.write("issue", "AcmeOS 4.2.1 (build 7731)\n");
    device.spawn_with_accounts(
        "telnetd.log",
        &format!(
            "busybox telnetd -F -p 23 -b {} -f {} -l /bin/login",
            device.address,
            device.path("issue").display()
        ),
    );
    device.wait_tcp(23, Duration::from_secs(5));
    let board = board(&device, "    - { port: 23, service: telnet }\n");
    let mut telnet = probe(&board, 0);
    assert_eq!(telnet.label(), "telnet 23/tcp");

    // A default credential the device really has: accepted.
    let weak = telnet
        .attempt("admin", &Secret::from_guess("admin"))
        .expect("attempt");
    assert_eq!(weak.outcome, Outcome::Accepted, "{}", weak.transcript);

    // A wrong password: refused, with Debian's words; never shown.
    let wrong = telnet
        .attempt("operator", &Secret::from_guess("admin"))
        .expect("attempt");
    assert!(
        matches!(&wrong.outcome, Outcome::Refused(said) if said.contains("Login incorrect")),
        "{:?}\n{}",
        wrong.outcome,
        wrong.transcript
    );

    // The declared account: accepted; its password not in the transcript.
    let password = board.account_password("operator").expect("password");
    let right = telnet.attempt("operator", &password).expect("attempt");
    assert_eq!(right.outcome, Outcome::Accepted, "{}", right.transcript);
    assert!(!right.transcript.contains(PASSWORD), "{}", right.transcript);
    assert!(
        right.transcript.contains("<redacted>"),
        "{}",
        right.transcript
    );

    // The pre-login text, read without logging in.
    let banner = telnet.banner().expect("banner").expect("telnet has one");
    assert!(banner.contains("AcmeOS 4.2.1"), "{banner:?}");
}

#[test]
fn mqtt_connect_against_mosquitto_anonymous_and_with_a_password_file() {
    require_tool("mosquitto");
    require_tool("mosquitto_passwd");
    let mut device = Device::new("hilt-cr-m1", "198.19.42");
    let pwfile = device.path("mqtt.pw");
    support::netns_device::run_ok(&[
        "mosquitto_passwd",
        "-b",
        "-c",
        &pwfile.display().to_string(),
        "operator",
        PASSWORD,
    ]);
    // A throwaway server certificate for the TLS listener.
    let (cert, key) = (device.path("mqtt.crt"), device.path("mqtt.key"));
    support::netns_device::run_ok(&[
        "openssl",
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=mqtt.test",
        "-keyout",
        &key.display().to_string(),
        "-out",
        &cert.display().to_string(),
    ]);
    // Three listeners: 1883 anonymous (weak), 1884 password file
    // (strong), 8883 the same over TLS.
    device.write(
        "mosquitto.conf",
        &format!(
            "per_listener_settings true\nuser root\n\
             listener 1883 {a}\nallow_anonymous true\n\
             listener 1884 {a}\nallow_anonymous false\npassword_file {pw}\n\
             listener 8883 {a}\nallow_anonymous false\npassword_file {pw}\n\
             certfile {crt}\nkeyfile {key}\n",
            a = device.address,
            pw = pwfile.display(),
            crt = cert.display(),
            key = key.display(),
        ),
    );
    let conf = device.path("mosquitto.conf").display().to_string();
    device.spawn("mosquitto.log", &format!("mosquitto -c {conf}"));
    device.wait_tcp(1883, Duration::from_secs(5));
    device.wait_tcp(1884, Duration::from_secs(5));
    device.wait_tcp(8883, Duration::from_secs(5));
    let board = board(
        &device,
        "    - { port: 1883, service: mqtt, login: { account: operator } }\n    - { port: 1884, service: mqtt, login: { account: operator } }\n    - { port: 8883, service: mqtts, login: { account: operator } }\n",
    );
    let mut open = probe(&board, 0);
    let mut closed = probe(&board, 1);
    assert_eq!(closed.label(), "mqtt 1884/tcp");

    let anon = open
        .attempt_anonymous()
        .expect("attempt")
        .expect("MQTT has anonymous");
    assert_eq!(anon.outcome, Outcome::Accepted, "{}", anon.transcript);
    let version = open
        .banner()
        .expect("banner")
        .expect("anonymous may subscribe");
    assert!(version.starts_with("mosquitto version 2."), "{version:?}");

    let anon = closed
        .attempt_anonymous()
        .expect("attempt")
        .expect("anonymous");
    assert!(
        matches!(anon.outcome, Outcome::Refused(_)),
        "{:?}",
        anon.outcome
    );
    let guess = closed
        .attempt("admin", &Secret::from_guess("admin"))
        .expect("attempt");
    assert!(
        matches!(guess.outcome, Outcome::Refused(_)),
        "{:?}",
        guess.outcome
    );
    let password = board.account_password("operator").expect("password");
    let right = closed.attempt("operator", &password).expect("attempt");
    assert_eq!(right.outcome, Outcome::Accepted, "{}", right.transcript);
    assert!(!right.transcript.contains(PASSWORD));
    assert_eq!(closed.banner().expect("banner"), None);

    // Over TLS: the same answers.
    let mut tls = probe(&board, 2);
    assert_eq!(tls.label(), "mqtts 8883/tcp");
    let anon = tls
        .attempt_anonymous()
        .expect("attempt")
        .expect("anonymous");
    assert!(
        matches!(anon.outcome, Outcome::Refused(_)),
        "{:?}",
        anon.outcome
    );
    let right = tls.attempt("operator", &password).expect("attempt");
    assert_eq!(right.outcome, Outcome::Accepted, "{}", right.transcript);
}

#[test]
fn snmp_communities_against_net_snmp() {
    require_tool("snmpd");
    let mut device = Device::new("hilt-cr-s1", "198.19.43");
    device.write("snmpd.conf", &format!("rocommunity {PASSWORD}\n"));
    let conf = device.path("snmpd.conf").display().to_string();
    let dir = device.dir_path().display().to_string();
    device.spawn(
        "snmpd.log",
        &format!(
            "SNMP_PERSISTENT_DIR={dir} exec snmpd -f -Lo -C -c {conf} -p {dir}/snmpd.pid udp:{}:161",
            device.address
        ),
    );
    let board = board(
        &device,
        "    - { port: 161, protocol: udp, service: snmp, login: { account: operator } }\n",
    );
    let mut snmp = probe(&board, 0);
    assert!(snmp.secret_only());
    // Wait for the agent: the declared community answers once it is up.
    let password = board.account_password("operator").expect("community");
    let started = std::time::Instant::now();
    let right = loop {
        match snmp.attempt("", &password) {
            Ok(a) => break a,
            Err(e) if started.elapsed() < Duration::from_secs(8) => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => panic!("{e}: {}", device.logs()),
        }
    };
    assert_eq!(right.outcome, Outcome::Accepted, "{}", right.transcript);
    let public = snmp
        .attempt("", &Secret::from_guess("public"))
        .expect("attempt");
    assert!(
        matches!(&public.outcome, Outcome::Refused(why) if why.contains("SNMPv3 discovery")),
        "{:?}",
        public.outcome
    );
}

#[test]
fn http_basic_against_busybox_httpd() {
    require_tool("busybox");
    let mut device = Device::new("hilt-cr-h1", "198.19.44");
    std::fs::create_dir_all(device.path("www")).expect("www");
    device.write("www/index.html", "hello\n");
    device.write(
        "httpd.conf",
        &format!("/:operator:{PASSWORD}\n/:admin:admin\n"),
    );
    device.spawn(
        "httpd.log",
        &format!(
            "exec busybox httpd -f -p {}:80 -h {} -c {}",
            device.address,
            device.path("www").display(),
            device.path("httpd.conf").display()
        ),
    );
    device.wait_tcp(80, Duration::from_secs(5));
    let board = board(
        &device,
        "    - { port: 80, service: http, api: { auth: basic, accounts: [operator] } }\n",
    );
    let mut http = probe(&board, 0);
    assert_eq!(http.label(), "http 80/tcp (basic)");
    let weak = http
        .attempt("admin", &Secret::from_guess("admin"))
        .expect("attempt");
    assert_eq!(weak.outcome, Outcome::Accepted, "{}", weak.transcript);
    let wrong = http
        .attempt("root", &Secret::from_guess("root"))
        .expect("attempt");
    assert!(
        matches!(wrong.outcome, Outcome::Refused(_)),
        "{:?}",
        wrong.outcome
    );
    let password = board.account_password("operator").expect("password");
    let right = http.attempt("operator", &password).expect("attempt");
    assert_eq!(right.outcome, Outcome::Accepted, "{}", right.transcript);
    assert!(!right.transcript.contains(PASSWORD), "{}", right.transcript);
}

#[test]
fn ftp_login_against_vsftpd_with_and_without_anonymous() {
    require_tool("vsftpd");
    require_tool("openssl");
    let mut device = Device::new("hilt-cr-f1", "198.19.40");
    device.accounts(&[
        ("operator", PASSWORD),
        ("admin", "admin"),
        ("ftp", "*"),
        ("nobody", "*"),
    ]);
    std::fs::create_dir_all(device.path("empty")).expect("empty");
    std::fs::create_dir_all(device.path("anon")).expect("anon");
    let conf = |port: u16, anonymous: bool| {
        format!(
            "listen=YES\nlisten_ipv6=NO\nlisten_address={a}\nlisten_port={port}\nbackground=NO\n\
             anonymous_enable={anon}\nno_anon_password=YES\nanon_root={d}/anon\n\
             local_enable=YES\npam_service_name=login\ncheck_shell=NO\nseccomp_sandbox=NO\n\
             secure_chroot_dir={d}/empty\nftpd_banner=AcmeFTP 1.4 ready\n",
            a = device.address,
            d = device.dir_path().display(),
            anon = if anonymous { "YES" } else { "NO" },
        )
    };
    let open = device
        .write("open.conf", &conf(21, true))
        .display()
        .to_string();
    let closed = device
        .write("closed.conf", &conf(2121, false))
        .display()
        .to_string();
    device.spawn_with_accounts("vsftpd-open.log", &format!("vsftpd {open}"));
    device.spawn_with_accounts("vsftpd-closed.log", &format!("vsftpd {closed}"));
    device.wait_tcp(21, Duration::from_secs(5));
    device.wait_tcp(2121, Duration::from_secs(5));
    let board = board(
        &device,
        "    - { port: 21, service: ftp, login: { account: operator } }\n    - { port: 2121, service: ftp, login: { account: operator } }\n",
    );
    let mut weak = probe(&board, 0);
    let mut strong = probe(&board, 1);

    let anon = weak
        .attempt_anonymous()
        .expect("attempt")
        .expect("anonymous");
    assert_eq!(anon.outcome, Outcome::Accepted, "{}", anon.transcript);
    let admin = weak
        .attempt("admin", &Secret::from_guess("admin"))
        .expect("attempt");
    assert_eq!(admin.outcome, Outcome::Accepted, "{}", admin.transcript);
    let banner = weak.banner().expect("banner").expect("a greeting");
    assert!(banner.starts_with("220 AcmeFTP 1.4 ready"), "{banner:?}");

    let anon = strong
        .attempt_anonymous()
        .expect("attempt")
        .expect("anonymous");
    assert!(
        matches!(anon.outcome, Outcome::Refused(_)),
        "{:?}\n{}",
        anon.outcome,
        anon.transcript
    );
    let guess = strong
        .attempt("root", &Secret::from_guess("root"))
        .expect("attempt");
    assert!(
        matches!(guess.outcome, Outcome::Refused(_)),
        "{:?}\n{}",
        guess.outcome,
        guess.transcript
    );
    let password = board.account_password("operator").expect("password");
    let right = strong.attempt("operator", &password).expect("attempt");
    assert_eq!(
        right.outcome,
        Outcome::Accepted,
        "{}\n{}",
        right.transcript,
        device.logs()
    );
    assert!(!right.transcript.contains(PASSWORD));
}
