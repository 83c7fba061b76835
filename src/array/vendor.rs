//! What the non-ALUA handlers' arrays say about a path, read as
//! multipath-tools' prioritizers read it (SAN-NOTES §1, §2):
//! - rdac (LSI/Engenio/NetApp E-Series, Dell MD3, IBM DS3/4/5k...):
//!   INQUIRY VPD 0xC9 "volume access control": +2 this controller owns
//!   the volume, +4 preferred path, +1 secondary path, +8 I/O shipping;
//! - emc (CLARiiON/VNX in PNR mode): INQUIRY VPD 0xC0 "unit path report":
//!   the LUN state (0 unbound, 1 bound, 2 owned by this SP), +2 when this
//!   SP is the default owner; 0 for a path not set up for failover;
//! - hp_sw (HP MSA1000/EVA, old firmware): TEST UNIT READY: 4 active, 2
//!   standby (NOT READY, 04/02), 0 failed.

use std::fmt;

use crate::sgio::sense_key;

/// INQUIRY for VPD page `page`, up to `len` bytes.
pub fn inquiry_cdb(page: u8, len: u8) -> [u8; 6] {
    [0x12, 0x01, page, 0, len, 0]
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VendorError {
    TooShort {
        page: u8,
        len: usize,
        need: usize,
    },
    /// Not the page asked for, or not in the layout the handler knows.
    Unknown {
        page: u8,
    },
}

impl fmt::Display for VendorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VendorError::TooShort { page, len, need } => {
                write!(f, "VPD page {page:#04x} is {len} bytes, needs {need}")
            }
            VendorError::Unknown { page } => write!(f, "VPD page {page:#04x} in an unknown format"),
        }
    }
}

fn need(page: u8, b: &[u8], n: usize) -> Result<(), VendorError> {
    if b.len() < n {
        return Err(VendorError::TooShort {
            page,
            len: b.len(),
            need: n,
        });
    }
    Ok(())
}

/// rdac: VPD 0xC9, page length 0x2c, identifier "vac".
pub fn rdac_prio(b: &[u8]) -> Result<u32, VendorError> {
    need(0xc9, b, 10)?;
    if b[1] != 0xc9 || b[3] != 0x2c || &b[4..7] != b"vac" {
        return Err(VendorError::Unknown { page: 0xc9 });
    }
    let owned = u32::from(b[8] & 0x01) * 2;
    let ioship = u32::from((b[8] >> 5) & 0x01) * 8;
    let preference = match b[9] & 0x0f {
        0x01 => 4,
        0x02 => 1,
        _ => 0,
    };
    Ok(owned + ioship + preference)
}

/// emc: VPD 0xC0, revision 0.
pub fn emc_prio(b: &[u8]) -> Result<u32, VendorError> {
    need(0xc0, b, 49)?;
    if b[1] != 0xc0 || b[9] != 0x00 {
        return Err(VendorError::Unknown { page: 0xc0 });
    }
    // Effective initiator type 3, failover mode 4 (PNR) or 6 (ALUA) in
    // bits 0-2, arraycommpath set; LUN operations normal.
    let set_up = b[27] == 0x03 && matches!(b[28] & 0x07, 0x04 | 0x06) && b[30] & 0x04 != 0;
    if !set_up || b[48] != 0 {
        return Ok(0);
    }
    Ok(u32::from(b[4]) + if b[5] == b[8] { 2 } else { 0 })
}

/// hp_sw: the TEST UNIT READY answer; None for a unit attention (ask
/// again later), which multipath-tools retries.
pub fn hp_sw_prio(status: u8, host: u16, driver: u16, sense: &[u8]) -> Option<u32> {
    if host != 0 {
        return Some(0);
    }
    if status & 0x7e == 0 && driver & 0xf == 0 {
        return Some(4);
    }
    match sense_key(sense) {
        Some((0x1, _, _)) => Some(4),
        Some((0x2, 0x04, 0x02)) => Some(2),
        Some((0x6, _, _)) => None,
        _ => Some(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c9(avtcvp: u8, pref: u8) -> Vec<u8> {
        let mut b = vec![0u8; 0x2c + 4];
        b[1] = 0xc9;
        b[3] = 0x2c;
        b[4..8].copy_from_slice(b"vac1");
        b[8] = avtcvp;
        b[9] = pref;
        b
    }

    #[test]
    fn rdac_pages() {
        // (byte 8 AVT/CVP, byte 9 preference, priority): bit 0 of byte 8
        // is "this controller owns the volume", bit 5 I/O shipping; byte
        // 9's low nibble 1 preferred, 2 secondary (SANtricity's layout,
        // as multipath-tools' rdac prioritizer reads it).
        #[rustfmt::skip]
        let rows = [
            (0x01, 0x01, 6), (0x00, 0x02, 1), (0x01, 0x02, 3), (0x00, 0x01, 4),
            (0x00, 0x00, 0), (0x21, 0x01, 14), (0x20, 0x02, 9), (0x01, 0x0f, 2),
        ];
        for (avtcvp, pref, want) in rows {
            assert_eq!(
                rdac_prio(&c9(avtcvp, pref)),
                Ok(want),
                "{avtcvp:#x} {pref:#x}"
            );
        }
        let mut wrong = c9(1, 1);
        wrong[4] = b'x';
        assert_eq!(rdac_prio(&wrong), Err(VendorError::Unknown { page: 0xc9 }));
        wrong = c9(1, 1);
        wrong[1] = 0xc0;
        assert!(rdac_prio(&wrong).is_err());
        assert_eq!(
            rdac_prio(&c9(1, 1)[..9]),
            Err(VendorError::TooShort {
                page: 0xc9,
                len: 9,
                need: 10
            })
        );
    }

    fn c0(lun_state: u8, current: u8, default: u8) -> Vec<u8> {
        let mut b = vec![0u8; 64];
        b[1] = 0xc0;
        b[4] = lun_state;
        b[5] = current;
        b[8] = default;
        b[27] = 0x03;
        b[28] = 0x04;
        b[30] = 0x04;
        b
    }

    #[test]
    fn emc_pages() {
        // (LUN state, this SP, default SP, priority).
        for (st, cur, def, want) in [
            (2, 0, 0, 4),
            (2, 1, 0, 2),
            (1, 0, 0, 3),
            (1, 1, 0, 1),
            (0, 0, 1, 0),
        ] {
            assert_eq!(emc_prio(&c0(st, cur, def)), Ok(want));
        }
        // Not set up for failover, or not in normal operation: 0.
        for (at, v) in [(27, 0x01), (28, 0x01), (30, 0x00), (48, 0x01)] {
            let mut b = c0(2, 0, 0);
            b[at] = v;
            assert_eq!(emc_prio(&b), Ok(0), "byte {at}");
        }
        let mut b = c0(2, 0, 0);
        b[9] = 1;
        assert_eq!(emc_prio(&b), Err(VendorError::Unknown { page: 0xc0 }));
        assert!(emc_prio(&c0(2, 0, 0)[..48]).is_err());
    }

    #[test]
    fn hp_sw_answers() {
        let fixed = crate::sgio::tests::fixed_sense;
        type Row = (&'static str, u8, u16, Vec<u8>, Option<u32>);
        #[rustfmt::skip]
        let rows: [Row; 7] = [
            ("GOOD", 0, 0, vec![], Some(4)),
            ("recovered error", 2, 0, fixed(0x1, 0x17, 0), Some(4)),
            ("standby", 2, 0, fixed(0x2, 0x04, 0x02), Some(2)),
            ("other not ready", 2, 0, fixed(0x2, 0x04, 0x03), Some(0)),
            ("unit attention", 2, 0, fixed(0x6, 0x29, 0), None),
            ("no connect", 0, 1, vec![], Some(0)),
            ("no sense data", 2, 0, vec![], Some(0)),
        ];
        for (what, status, host, sense, want) in rows {
            assert_eq!(hp_sw_prio(status, host, 0, &sense), want, "{what}");
        }
    }

    #[test]
    fn random_pages_never_panic() {
        let mut rng = crate::testrand::Rng::new(0xc9);
        for _ in 0..100_000 {
            let len = rng.below(70);
            let mut b: Vec<u8> = (0..len).map(|_| rng.byte()).collect();
            if b.len() > 9 && rng.below(2) == 0 {
                b[1] = if rng.below(2) == 0 { 0xc9 } else { 0xc0 };
                b[3] = 0x2c;
                b[4..7].copy_from_slice(b"vac");
                b[9] = 0;
            }
            let _ = rdac_prio(&b);
            let _ = emc_prio(&b);
            let _ = hp_sw_prio(b.first().copied().unwrap_or(0), 0, 0, &b);
        }
    }
}
