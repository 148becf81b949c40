//! The simulated bootloader: validates slot images, performs test swaps and
//! reverts, enforces the security counter, and reports what it did.

use crate::device_api::event_kind;
use crate::flash::{self, Flash, Trailer};
use crate::mcuboot::{self, Image, Policy, TrustedKey};

/// What the firmware is started with.
#[derive(Debug, Clone)]
pub struct Running {
    pub image: Image,
    /// The image bytes (header, payload, TLVs).
    pub bytes: Vec<u8>,
    /// This boot is a test boot (reverted at the next boot unless confirmed).
    pub test_boot: bool,
}

#[derive(Debug, Default)]
pub struct BootReport {
    /// Lines for the console.
    pub log: Vec<String>,
    /// Security events for the firmware to record: (kind, detail).
    pub events: Vec<(&'static str, String)>,
    /// Reasons the device is degraded.
    pub degraded: Vec<String>,
    /// `None`: nothing bootable, the device halts.
    pub running: Option<Running>,
    /// The bootloader faulted and hangs (`bootloader-hangs-on-truncated`):
    /// nothing more is printed until the next power-on.
    pub hung: bool,
}

pub fn policy(flags: u32) -> Policy {
    Policy {
        accept_unsigned: flags & flash::BOOT_FLAG_ACCEPT_UNSIGNED != 0,
        accept_any_key: flags & flash::BOOT_FLAG_ACCEPT_ANY_KEY != 0,
        skip_hash: flags & flash::BOOT_FLAG_SKIP_HASH != 0,
    }
}

/// Parses and verifies a slot; checks the security counter unless allowed.
pub fn validate(
    slot: &[u8],
    keys: &[(Vec<u8>, TrustedKey)],
    flags: u32,
    nv_counter: u32,
) -> Result<Image, String> {
    let img = mcuboot::parse(slot)?;
    if img.total_len > flash::SLOT_SIZE - flash::TRAILER_COPY_DONE_FROM_END {
        return Err("image overlaps the slot trailer".into());
    }
    mcuboot::verify(&img, keys, policy(flags))?;
    if flags & flash::BOOT_FLAG_ROLLBACK_ALLOWED != 0 {
        return Ok(img);
    }
    let cnt = img.security_counter().unwrap_or(0);
    if cnt < nv_counter {
        return Err(format!(
            "security counter {cnt} below stored counter {nv_counter} (rollback)"
        ));
    }
    Ok(img)
}

fn load_keys(flash: &Flash) -> Vec<(Vec<u8>, TrustedKey)> {
    flash
        .boot_keys()
        .into_iter()
        .filter_map(|der| {
            let k = TrustedKey::from_spki_der(&der).ok()?;
            Some((mcuboot::key_hash(&der).to_vec(), k))
        })
        .collect()
}

pub fn boot(flash: &mut Flash) -> BootReport {
    let mut r = BootReport::default();
    r.log
        .push("*** hilt-sim bootloader 1.0 (MCUboot-compatible, swap mode) ***".into());
    if !flash.boot_config_valid() {
        r.log
            .push("[boot] bootloader configuration missing; halted".into());
        r.degraded.push("bootloader configuration missing".into());
        return r;
    }
    let flags = flash.boot_flags();
    let keys = load_keys(flash);
    let t0 = flash.trailer(0);
    let t1 = flash.trailer(1);

    if t0.magic && t0.copy_done && !t0.image_ok {
        r.log
            .push("[boot] swap type: revert (test image was not confirmed)".into());
        flash.swap_slots();
        flash.write_trailer(
            0,
            Trailer {
                magic: true,
                image_ok: true,
                copy_done: true,
            },
        );
        flash.write_trailer(1, Trailer::default());
        r.events.push((
            event_kind::IMAGE_REVERTED,
            "unconfirmed test image reverted".into(),
        ));
    } else if t1.magic {
        let permanent = t1.image_ok;
        r.log.push(format!(
            "[boot] swap type: {} (slot 1 pending)",
            if permanent { "perm" } else { "test" }
        ));
        if flags & flash::BOOT_FLAG_HANG_ON_TRUNCATED != 0 {
            if let Some(why) = mcuboot::extent_fault(flash.slot(1)) {
                // The flaw: the pending request is consumed, then the
                // bootloader reads past the image and faults.
                flash.write_trailer(1, Trailer::default());
                r.log.push(format!(
                    "[boot] FAULT: bus fault reading slot 1 image ({why}); system halted"
                ));
                r.hung = true;
                return r;
            }
        }
        match validate(flash.slot(1), &keys, flags, flash.security_counter()) {
            Ok(img) => {
                r.log.push(format!(
                    "[boot] slot 1: image {} hash {}: OK",
                    img.version,
                    mcuboot::hex(&img.computed_hash)
                ));
                flash.swap_slots();
                flash.write_trailer(
                    0,
                    Trailer {
                        magic: true,
                        image_ok: permanent,
                        copy_done: true,
                    },
                );
                flash.write_trailer(1, Trailer::default());
                r.events.push((
                    event_kind::IMAGE_SWAPPED,
                    format!(
                        "image {} swapped in ({})",
                        img.version,
                        if permanent { "permanent" } else { "test" }
                    ),
                ));
            }
            Err(why) => {
                r.log.push(format!(
                    "[boot] slot 1: verification FAILED: {why}; erasing slot 1"
                ));
                r.events.push((
                    event_kind::BOOT_VERIFICATION_FAILED,
                    format!("slot 1: {why}"),
                ));
                r.degraded
                    .push(format!("slot 1 image rejected by the bootloader: {why}"));
                flash.erase(flash::SLOT1_OFF, flash::SLOT_SIZE);
            }
        }
    } else {
        r.log.push("[boot] swap type: none".into());
    }

    let primary = if flags & flash::BOOT_FLAG_NO_BOOT_VALIDATION != 0 {
        // The flaw: the primary slot is trusted as it is (only images
        // swapped in were verified).
        mcuboot::parse(flash.slot(0))
            .map_err(|why| format!("no image: {why}"))
            .map(|img| (img, false))
    } else {
        validate(flash.slot(0), &keys, flags, flash.security_counter()).map(|img| (img, true))
    };
    match primary {
        Ok((img, validated)) => {
            let t0 = flash.trailer(0);
            let test_boot = t0.magic && t0.copy_done && !t0.image_ok;
            if !test_boot {
                if let Some(c) = img.security_counter() {
                    flash.raise_security_counter(c);
                }
            }
            r.log.push(if validated {
                format!(
                    "[boot] slot 0: image {} hash {}: OK",
                    img.version,
                    mcuboot::hex(&img.computed_hash)
                )
            } else {
                format!(
                    "[boot] slot 0: image {} hash {}: not validated",
                    img.version,
                    mcuboot::hex(&img.computed_hash)
                )
            });
            r.log.push(format!(
                "[boot] verdict: booting slot 0 ({})",
                if test_boot {
                    "test boot, unconfirmed"
                } else {
                    "confirmed"
                }
            ));
            let bytes = flash.slot(0)[..img.total_len].to_vec();
            r.running = Some(Running {
                image: img,
                bytes,
                test_boot,
            });
        }
        Err(why) => {
            r.log
                .push(format!("[boot] slot 0: verification FAILED: {why}"));
            r.log
                .push("[boot] verdict: no bootable image; halted".into());
            r.events.push((
                event_kind::BOOT_VERIFICATION_FAILED,
                format!("slot 0: {why}"),
            ));
            r.degraded
                .push(format!("slot 0 image rejected by the bootloader: {why}"));
        }
    }
    r
}
