//! report.html in headless Chromium (Debian's `chromium`): the report of a
//! real run loads without a console message, is kept as a screenshot and a
//! PDF (target/test-artifacts/report.png, report.pdf), and a device whose
//! FTP greeting carries `<script>alert(1)</script>` shows it as text.
//!
//! The device is Debian's vsftpd in a network namespace (hilt-ht0,
//! 198.19.60.0/24) with that greeting as its `ftpd_banner`; AU-08 reads it
//! and FAILs quoting it. Chromium's console is read from its log
//! (`--enable-logging=stderr --v=0` prints every console message as a
//! `...:CONSOLE...] "text", source: URL (line)` line); the first test
//! shows that this catches a page's script error and console.error. The
//! DOM is Chromium's own serialisation after load (`--dump-dom`).
//! Needs root (namespaces), chromium, vsftpd, openssl. About 10 s.

#[path = "support/hilt_cli.rs"]
mod hilt_cli;
#[path = "../harness/tests/support/netns_device.rs"]
mod netns_device;

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hilt_cli::{hilt_with, run_dir, text};
use netns_device::{require_tool, Device};

const HOSTILE: &str = "<script>alert(1)</script>";
const PASSWORD: &str = "Hv4-lantern-Qs9";

/// What Chromium made of a page.
struct Loaded {
    /// The DOM after load, as Chromium serialises it.
    dom: String,
    /// Every console message Chromium logged for the page.
    console: Vec<String>,
}

/// Runs headless Chromium on `page` with `mode` (`--dump-dom`,
/// `--screenshot=...`, `--print-to-pdf=...`), its own profile in `scratch`,
/// and returns its stdout and the console lines of its log. Killed (its
/// whole process group) after 60 s.
fn chromium(page: &Path, mode: &str, scratch: &Path) -> Loaded {
    let profile = tempfile::tempdir_in(scratch).expect("profile dir");
    let stdout = scratch.join("chromium.out");
    let stderr = scratch.join("chromium.err");
    let mut child = Command::new("chromium")
        .args([
            "--headless",
            // As root Chromium refuses to start without this; the pages
            // are files this test wrote or hilt rendered.
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--hide-scrollbars",
            "--window-size=1280,4200",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(mode)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout).expect("stdout file"))
        .stderr(std::fs::File::create(&stderr).expect("stderr file"))
        .process_group(0)
        .spawn()
        .expect("chromium starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        match child.try_wait().expect("wait for chromium") {
            Some(status) => break status,
            None if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            None => {
                // SAFETY: kill(2) on the process group this test started.
                unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
                let _ = child.wait();
                panic!("chromium did not finish within 60 s on {}", page.display());
            }
        }
    };
    let log = std::fs::read_to_string(&stderr).unwrap_or_default();
    assert!(status.success(), "chromium {mode}: {status}\n{log}");
    Loaded {
        dom: std::fs::read_to_string(&stdout).unwrap_or_default(),
        console: log
            .lines()
            .filter(|l| l.contains(":CONSOLE"))
            .map(String::from)
            .collect(),
    }
}

fn tools() {
    for tool in ["chromium", "vsftpd", "openssl"] {
        require_tool(tool);
    }
}

#[test]
fn chromium_log_catches_a_console_error_and_a_script_element() {
    require_tool("chromium");
    let dir = tempfile::tempdir().expect("tempdir");
    let page = dir.path().join("broken.html");
    std::fs::write(
        &page,
        "<!DOCTYPE html><html><body><p>broken on purpose</p>\
         <script>console.error('hilt-deliberate-console-error'); hiltNoSuchFunction();</script>\
         </body></html>",
    )
    .expect("page");
    let loaded = chromium(&page, "--dump-dom", dir.path());
    let console = loaded.console.join("\n");
    assert!(
        console.contains("hilt-deliberate-console-error"),
        "console.error not caught: {console:?}"
    );
    assert!(
        console.contains("hiltNoSuchFunction is not defined"),
        "script error not caught: {console:?}"
    );
    assert!(loaded.dom.contains("<script>"), "{}", loaded.dom);
}

/// vsftpd greeting with [`HOSTILE`] and a version number (which AU-08
/// counts, so it FAILs and quotes the greeting).
fn start_ftp(device: &mut Device) {
    device.accounts(&[("operator", PASSWORD), ("ftp", "*"), ("nobody", "*")]);
    std::fs::create_dir_all(device.path("empty")).expect("empty");
    let conf = format!(
        "listen=YES\nlisten_ipv6=NO\nlisten_address={a}\nlisten_port=21\nbackground=NO\n\
         anonymous_enable=NO\nlocal_enable=YES\npam_service_name=login\ncheck_shell=NO\n\
         seccomp_sandbox=NO\nsecure_chroot_dir={d}/empty\nftpd_banner={HOSTILE} AcmeFTP 1.4 ready\n",
        a = device.address,
        d = device.dir_path().display(),
    );
    let conf = device.write("vsftpd.conf", &conf).display().to_string();
    device.spawn_with_accounts("vsftpd.log", &format!("vsftpd {conf}"));
    device.wait_tcp(21, Duration::from_secs(5));
}

fn board_file(dir: &Path, device: &Device) -> PathBuf {
    std::fs::write(dir.join("pw"), format!("{PASSWORD}\n")).expect("pw");
    let file = dir.join("board.yaml");
    std::fs::write(
        &file,
        format!(
            "board: ftp-box\nmodel: an FTP server of Debian's vsftpd\n\
             hardware:\n  network: {{ address: {}, interface: {}, host_address: {} }}\n\
             declares:\n  accounts:\n    operator: {{ password: 'file:pw' }}\n\
             \x20 interfaces:\n    - {{ port: 21, service: ftp, login: {{ account: operator }} }}\n\
             \x20 support: {{ end_of_support: 2031-12-31, vulnerability_contact: security@example.com }}\n",
            device.address, device.host_if, device.host_address
        ),
    )
    .expect("board file");
    file
}

/// target/test-artifacts, where CI keeps what a test leaves for people.
fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target dir")
        .join("test-artifacts");
    std::fs::create_dir_all(&dir).expect("test-artifacts");
    dir
}

#[test]
fn report_of_a_real_run_loads_cleanly_and_a_hostile_banner_stays_text() {
    tools();
    let mut device = Device::new("hilt-ht0", "198.19.60");
    start_ftp(&mut device);
    let dir = tempfile::tempdir().expect("tempdir");
    let board = board_file(dir.path(), &device).display().to_string();
    let out = hilt_with(
        &["run", "-b", &board, "--", "AU-08", "NT-01", "NT-02"],
        dir.path(),
        &[],
    );
    let printed = format!("{}{}", text(&out.stdout), text(&out.stderr));
    let run = run_dir(dir.path());
    let record = hilt_reports::RunRecord::read(&run.join("record.json")).expect("record");
    let au08 = record
        .trials
        .iter()
        .find(|t| t.catalogue_id == "AU-08")
        .unwrap_or_else(|| panic!("no AU-08 trial: {printed}"));
    assert_eq!(
        au08.verdict,
        hilt_reports::Verdict::Fail,
        "{au08:#?}\n{printed}\n{}",
        device.logs()
    );
    assert!(au08.reason.contains(HOSTILE), "{}", au08.reason);
    assert!(
        printed.contains(&format!("report: hilt-out/{}/report.html", record.run_id)),
        "{printed}"
    );
    drop(device);

    let report = run.join("report.html");
    let loaded = chromium(&report, "--dump-dom", dir.path());
    assert!(
        loaded.console.is_empty(),
        "console messages: {:#?}",
        loaded.console
    );
    // The report has no script of its own, so the DOM has none at all;
    // the greeting is a text node, which Chromium serialises escaped.
    assert!(!loaded.dom.contains("<script"), "{}", loaded.dom);
    assert!(
        loaded.dom.contains("<h1>"),
        "the page rendered: {}",
        loaded.dom
    );
    let literal = "&lt;script&gt;alert(1)&lt;/script&gt; AcmeFTP 1.4 ready";
    let findings = loaded
        .dom
        .split("id=\"findings\"")
        .nth(1)
        .expect("findings section");
    assert!(findings.contains(literal), "{findings}");
    // The evidence link resolves to the file AU-08 wrote, which holds the
    // greeting as the device sent it.
    let evidence = &au08.evidence;
    let banners = evidence
        .iter()
        .find(|e| e.path.ends_with("login-banners.txt"))
        .expect("login-banners.txt");
    assert!(
        findings.contains(&format!("<a href=\"{}\">", banners.path)),
        "{findings}"
    );
    let kept = std::fs::read_to_string(run.join(&banners.path)).expect("evidence");
    assert!(kept.contains(HOSTILE), "{kept}");
    // Its locator is the line where the greeting begins.
    let line: usize = banners
        .locator
        .as_deref()
        .and_then(|l| l.strip_prefix("line "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no line locator: {banners:?}"));
    let at = kept.lines().nth(line - 1).unwrap_or_default();
    assert!(at.contains(HOSTILE), "line {line}: {at:?}\n{kept}");

    // Kept for people: a screenshot and the printed PDF.
    let artifacts = artifacts();
    let png = artifacts.join("report.png");
    let pdf = artifacts.join("report.pdf");
    let _ = std::fs::remove_file(&png);
    let _ = std::fs::remove_file(&pdf);
    let shot = chromium(
        &report,
        &format!("--screenshot={}", png.display()),
        dir.path(),
    );
    assert!(shot.console.is_empty(), "{:#?}", shot.console);
    let bytes = std::fs::read(&png).expect("screenshot written");
    assert!(
        bytes.starts_with(b"\x89PNG") && bytes.len() > 20_000,
        "{} bytes",
        bytes.len()
    );
    chromium(
        &report,
        &format!("--print-to-pdf={}", pdf.display()),
        dir.path(),
    );
    let bytes = std::fs::read(&pdf).expect("PDF written");
    assert!(bytes.starts_with(b"%PDF"), "{} bytes", bytes.len());
}
