//! VPD page 0x83 (Device Identification) → WWID, exactly as multipath-tools
//! derives it, so that the full system's `multipathd` recognises our maps.
//!
//! Only designators whose association is the logical unit count. Among those
//! the best one wins, by multipath-tools' ranking:
//! NAA IEEE Registered Extended > NAA IEEE Registered > NAA IEEE Extended >
//! EUI-64 > SCSI name string > T10 vendor id > NAA locally assigned.
//! A designator with an impossible length is skipped, as there.

use std::fmt;

/// Longest WWID that still fits a DM UUID `mpath-<WWID>` (128 bytes).
pub const WWID_MAX: usize = 122;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VpdError {
    TooShort {
        len: usize,
    },
    WrongPage {
        page: u8,
    },
    /// The page header promises more bytes than were read.
    Truncated {
        declared: usize,
        got: usize,
    },
    /// A designator runs past the end of the page.
    Overflow {
        offset: usize,
    },
    NoDesignator,
    BadWwid {
        wwid: String,
    },
}

impl fmt::Display for VpdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VpdError::TooShort { len } => write!(f, "page is {len} bytes, header needs 4"),
            VpdError::WrongPage { page } => write!(f, "page code is {page:#04x}, not 0x83"),
            VpdError::Truncated { declared, got } => {
                write!(f, "page truncated: header says {declared} bytes, got {got}")
            }
            VpdError::Overflow { offset } => {
                write!(f, "designator at offset {offset} runs past the page end")
            }
            VpdError::NoDesignator => write!(f, "no logical-unit designator multipath can use"),
            VpdError::BadWwid { wwid } => write!(f, "designator gives unusable WWID {wwid:?}"),
        }
    }
}

impl std::error::Error for VpdError {}

/// Rank of a designator, higher is better; None when multipath-tools skips it.
fn rank(desig_type: u8, body: &[u8]) -> Option<u8> {
    let len = body.len();
    match desig_type {
        // NAA: the top nibble of the first byte says which format, and fixes the length.
        0x3 => {
            let (prio, good_len) = match body.first()? >> 4 {
                6 => (8, 16),
                5 => (7, 8),
                2 => (6, 8),
                3 => (1, 8),
                _ => return None,
            };
            (len == good_len).then_some(prio)
        }
        0x2 => matches!(len, 8 | 12 | 16).then_some(4),
        0x8 => {
            let known =
                body.starts_with(b"eui.") || body.starts_with(b"naa.") || body.starts_with(b"iqn.");
            known.then_some(3)
        }
        0x1 => (len >= 8).then_some(2),
        _ => None,
    }
}

/// A designator: (association, type, body).
type Designator<'a> = (u8, u8, &'a [u8]);

/// The designators of a VPD page 0x83 as (association, type, body), after
/// checking the header and that every designator fits the page.
fn designators(page: &[u8]) -> Result<Vec<Designator<'_>>, VpdError> {
    if page.len() < 4 {
        return Err(VpdError::TooShort { len: page.len() });
    }
    if page[1] != 0x83 {
        return Err(VpdError::WrongPage { page: page[1] });
    }
    let declared = usize::from(u16::from_be_bytes([page[2], page[3]])) + 4;
    if declared > page.len() {
        return Err(VpdError::Truncated {
            declared,
            got: page.len(),
        });
    }
    let page = &page[..declared];
    let mut out = Vec::new();
    let mut off = 4;
    while off + 4 <= page.len() {
        let d = &page[off..];
        let end = off + 4 + usize::from(d[3]);
        if end > page.len() {
            return Err(VpdError::Overflow { offset: off });
        }
        out.push(((d[1] >> 4) & 0x3, d[1] & 0xf, &page[off + 4..end]));
        off = end;
    }
    Ok(out)
}

/// Parse a VPD page 0x83 and return the WWID multipath-tools would use.
pub fn wwid_from_pg83(page: &[u8]) -> Result<String, VpdError> {
    let mut best: Option<(u8, u8, &[u8])> = None;
    for (association, desig_type, body) in designators(page)? {
        if association == 0 {
            if let Some(r) = rank(desig_type, body) {
                if best.map_or(true, |(b, _, _)| r > b) {
                    best = Some((r, desig_type, body));
                }
            }
        }
    }
    let (_, desig_type, body) = best.ok_or(VpdError::NoDesignator)?;
    let wwid = format_designator(desig_type, body);
    if !valid_wwid(&wwid) {
        return Err(VpdError::BadWwid { wwid });
    }
    Ok(wwid)
}

/// (target port group, relative target port).
pub type PortIds = (Option<u16>, Option<u16>);

/// The target port group and the relative target port of the port the
/// page was read through: the target-port designators of type 5 and 4
/// (SPC-4 7.8.6.8, 7.8.6.7), bytes 2-3 of each. None for one the page
/// does not name (no ALUA) or when it is malformed.
pub fn port_ids(page: &[u8]) -> PortIds {
    let Ok(ds) = designators(page) else {
        return (None, None);
    };
    let find = |t: u8| {
        ds.iter()
            .find(|&&(association, desig_type, body)| {
                association == 1 && desig_type == t && body.len() >= 4
            })
            .map(|(_, _, body)| u16::from_be_bytes([body[2], body[3]]))
    };
    (find(5), find(4))
}

/// Bytes up to the first NUL: multipath-tools handles these as C strings.
fn until_nul(b: &[u8]) -> &[u8] {
    b.iter().position(|&c| c == 0).map_or(b, |n| &b[..n])
}

fn format_designator(desig_type: u8, body: &[u8]) -> String {
    let mut out = String::new();
    match desig_type {
        0x2 | 0x3 => {
            out.push(char::from(b'0' + desig_type));
            for b in body {
                out.push_str(&format!("{b:02x}"));
            }
        }
        0x8 => {
            let (digit, lower) = match &body[..4] {
                b"eui." => ('2', true),
                b"naa." => ('3', true),
                _ => ('8', false),
            };
            out.push(digit);
            for &b in until_nul(&body[4..]) {
                let b = if lower { b.to_ascii_lowercase() } else { b };
                out.push(wwid_char(b));
            }
        }
        _ => {
            // T10 vendor id: every run of spaces becomes one '_', none trailing.
            out.push('1');
            let mut in_space = false;
            for &b in until_nul(body) {
                if b == b' ' {
                    if !in_space {
                        out.push('_');
                    }
                    in_space = true;
                } else {
                    out.push(wwid_char(b));
                    in_space = false;
                }
            }
            if out.len() > 1 && in_space {
                out.pop();
            }
        }
    }
    out
}

/// Convert the kernel's `device/wwid` string (`naa.6001…`, `t10.Linux …`,
/// `eui.…`) to multipath-tools' form. Used only when page 0x83 is unreadable.
pub fn wwid_from_sysfs(raw: &str) -> Option<String> {
    let raw = raw.trim_end_matches(['\n', '\0']);
    let wwid = if let Some(hex) = raw.strip_prefix("naa.") {
        format!("3{}", hex.to_ascii_lowercase())
    } else if let Some(hex) = raw.strip_prefix("eui.") {
        format!("2{}", hex.to_ascii_lowercase())
    } else if let Some(t10) = raw.strip_prefix("t10.") {
        format_designator(0x1, t10.as_bytes())
    } else {
        return None;
    };
    valid_wwid(&wwid).then_some(wwid)
}

/// A WWID doubles as a DM name, part of a DM UUID, a /dev/mapper path and
/// a word in initramfs shell scripts: only `text::is_safe` bytes.
pub fn valid_wwid(w: &str) -> bool {
    w.len() >= 2 && w.len() <= WWID_MAX && crate::text::is_safe(w)
}

/// Does a /dev/mapper name look like a WWID as multipath-tools and mpboot
/// derive them (NAA `3…`, EUI-64 `2…`, T10 vendor id `1…`, SCSI name
/// string `8…`, NVMe `eui.`/`uuid.`/`nvme.`), rather than an LVM
/// (`vg-lv`) or dm-crypt name? Boot mode waits only for names that may
/// be its own.
pub fn looks_like_wwid(n: &str) -> bool {
    let hex = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit());
    let text =
        |s: &str| s.len() >= 4 && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric());
    let (first, r) = n.split_at(n.chars().next().map_or(0, char::len_utf8));
    match first {
        "3" => hex(r) && matches!(r.len(), 16 | 32),
        "2" => hex(r) && matches!(r.len(), 16 | 24 | 32),
        "1" => text(r) && r.len() >= 8,
        "8" => ["iqn.", "eui.", "naa."].iter().any(|p| r.starts_with(p)),
        _ => ["eui.", "uuid.", "nvme."].iter().any(|p| n.starts_with(p)),
    }
}

/// A text designator's byte as it goes into a WWID: udev's scsi_id
/// replaces every byte outside the safe set with '_' in ID_SERIAL, the
/// WWID multipath-tools uses by default, so the two tools agree.
fn wwid_char(b: u8) -> char {
    if crate::text::is_safe_byte(b) {
        char::from(b)
    } else {
        '_'
    }
}

#[cfg(test)]
mod tests {
    use super::looks_like_wwid;

    #[test]
    fn wwid_like_names() {
        for w in [
            "36001405f0a1b2c3d4e5f60718293a4b5",
            "35000c50015ea71ac",
            "20011223344556677",
            "1Linux_scsi_debug_2000",
            "8iqn.2026-11.org.mpboot:t1",
            "eui.0025388b91c0d1e2",
            "nvme.1b36-4d5042-51454d55-00000001",
        ] {
            assert!(looks_like_wwid(w), "{w}");
        }
        for n in [
            "debian--vg-root",
            "vg0-root",
            "cryptroot",
            "luks-6f1a",
            "rhel-root",
            "3",
            "3xyz",
            "mpatha",
            "",
        ] {
            assert!(!looks_like_wwid(n), "{n}");
        }
    }
    use super::*;

    fn page(designators: &[(u8, u8, &[u8])]) -> Vec<u8> {
        let mut body = Vec::new();
        for &(code_set, assoc_type, data) in designators {
            body.extend_from_slice(&[code_set, assoc_type, 0, data.len() as u8]);
            body.extend_from_slice(data);
        }
        let mut p = vec![0, 0x83];
        p.extend_from_slice(&(body.len() as u16).to_be_bytes());
        p.extend_from_slice(&body);
        p
    }

    const NAA6: &[u8] = &[
        0x60, 0x01, 0x40, 0x5a, 0xbc, 0xde, 0xf0, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0,
        0x11,
    ];
    const NAA5: &[u8] = &[0x50, 0x00, 0xc5, 0x00, 0x12, 0x34, 0x56, 0x78];
    const NAA3: &[u8] = &[0x33, 0x33, 0x33, 0x30, 0x00, 0x00, 0x07, 0xd0];
    const EUI: &[u8] = &[0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77];
    const T10: &[u8] = b"Linux   scsi_debug      2000";

    #[test]
    fn ranking_table() {
        let cases: &[(&str, Vec<u8>, &str)] = &[
            (
                "naa6 only",
                page(&[(1, 0x03, NAA6)]),
                "36001405abcdef0123456789abcdef011",
            ),
            ("naa5 only", page(&[(1, 0x03, NAA5)]), "35000c50012345678"),
            ("eui64", page(&[(1, 0x02, EUI)]), "20011223344556677"),
            (
                "t10 beats naa3",
                page(&[(1, 0x03, NAA3), (2, 0x01, T10)]),
                "1Linux_scsi_debug_2000",
            ),
            (
                "naa5 beats t10",
                page(&[(2, 0x01, T10), (1, 0x03, NAA5)]),
                "35000c50012345678",
            ),
            (
                "eui beats name",
                page(&[(3, 0x08, b"iqn.2003-01.org.x\0\0\0"), (1, 0x02, EUI)]),
                "20011223344556677",
            ),
            (
                "name beats t10",
                page(&[(2, 0x01, T10), (3, 0x08, b"naa.600A0B80\0\0\0\0")]),
                "3600a0b80",
            ),
            (
                "iqn name kept verbatim",
                page(&[(3, 0x08, b"iqn.2003-01.Org.X\0\0\0")]),
                "82003-01.Org.X",
            ),
            (
                "naa6 beats naa5",
                page(&[(1, 0x03, NAA5), (1, 0x03, NAA6)]),
                "36001405abcdef0123456789abcdef011",
            ),
            // Target-port association (0x10) does not count, even when better.
            (
                "port naa ignored",
                page(&[(1, 0x13, NAA6), (2, 0x01, T10)]),
                "1Linux_scsi_debug_2000",
            ),
            // NAA-6 with the wrong length is skipped.
            (
                "bad naa6 len",
                page(&[(1, 0x03, &NAA6[..8]), (2, 0x01, T10)]),
                "1Linux_scsi_debug_2000",
            ),
            (
                "t10 trailing spaces",
                page(&[(2, 0x01, b"LIO-ORG TCMU    device  ")]),
                "1LIO-ORG_TCMU_device",
            ),
            // Bytes a shell, a path or a udev rule would read specially
            // become '_', as udev's scsi_id makes ID_SERIAL.
            (
                "t10 with shell syntax",
                page(&[(2, 0x01, b"EVIL    X$(touch${IFS}PWNED)")]),
                "1EVIL_X__touch__IFS_PWNED_",
            ),
            (
                "t10 with quote, slash, parentheses",
                page(&[(2, 0x01, b"DB      db(1)/'x'")]),
                "1DB_db_1___x_",
            ),
            (
                "name string with shell syntax",
                page(&[(3, 0x08, b"iqn.2003-01.a;b`c`\0\0")]),
                "82003-01.a_b_c_",
            ),
        ];
        for (name, p, want) in cases {
            assert_eq!(wwid_from_pg83(p).as_deref(), Ok(*want), "{name}");
        }
    }

    #[test]
    fn malformed_pages() {
        assert_eq!(
            wwid_from_pg83(&[0, 0x83]),
            Err(VpdError::TooShort { len: 2 })
        );
        assert_eq!(
            wwid_from_pg83(&[0, 0x80, 0, 0]),
            Err(VpdError::WrongPage { page: 0x80 })
        );
        let mut p = page(&[(1, 0x03, NAA6)]);
        p.truncate(10);
        assert!(matches!(
            wwid_from_pg83(&p),
            Err(VpdError::Truncated { .. })
        ));
        // Header fine, designator length points past the end.
        let mut p = page(&[(1, 0x03, NAA6)]);
        p[7] = 200;
        assert_eq!(wwid_from_pg83(&p), Err(VpdError::Overflow { offset: 4 }));
        assert_eq!(wwid_from_pg83(&page(&[])), Err(VpdError::NoDesignator));
        assert_eq!(
            wwid_from_pg83(&page(&[(1, 0x13, NAA6)])),
            Err(VpdError::NoDesignator)
        );
        // A '/' cannot be in a DM name: it becomes '_', as udev makes it.
        assert_eq!(
            wwid_from_pg83(&page(&[(2, 0x01, b"VEND/OR PRODUCT1")])).as_deref(),
            Ok("1VEND_OR_PRODUCT1")
        );
        // Nothing printable left to name the LUN by.
        assert!(matches!(
            wwid_from_pg83(&page(&[(2, 0x01, b"\0\0\0\0\0\0\0\0")])),
            Err(VpdError::BadWwid { .. })
        ));
    }

    #[test]
    fn captured_pages() {
        // Captured from the VM, see tests/fixtures/README.md.
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/vpd");
        for (file, want, group) in [
            ("scsi_debug.pg83", "1Linux_scsi_debug_2000", Some(0x200)),
            ("lio.pg83", "36001405", Some(0)),
        ] {
            let bytes = std::fs::read(format!("{dir}/{file}")).unwrap();
            let got = wwid_from_pg83(&bytes).unwrap();
            assert!(got.starts_with(want), "{file}: {got}");
            assert_eq!(port_ids(&bytes).0, group, "{file}");
        }
        // A target port group designator (association 1, type 5) names
        // group 0x0102; one with the wrong association or too short does not.
        let page = |d: &[u8]| {
            let mut p = vec![0, 0x83, 0, d.len() as u8];
            p.extend_from_slice(d);
            p
        };
        assert_eq!(
            port_ids(&page(&[0x61, 0x95, 0, 4, 0, 0, 1, 2])).0,
            Some(0x102)
        );
        assert_eq!(
            port_ids(&page(&[0x61, 0x85, 0, 4, 0, 0, 1, 2])),
            (None, None)
        );
        assert_eq!(port_ids(&page(&[0x61, 0x95, 0, 2, 0, 0])), (None, None));
        assert_eq!(
            port_ids(&page(&[0x61, 0x94, 0, 4, 0, 0, 0, 3])),
            (None, Some(3))
        );
    }

    #[test]
    fn sysfs_fallback() {
        assert_eq!(
            wwid_from_sysfs("naa.6001405ABC\n").as_deref(),
            Some("36001405abc")
        );
        assert_eq!(
            wwid_from_sysfs("t10.Linux   scsi_debug      2000\n").as_deref(),
            Some("1Linux_scsi_debug_2000")
        );
        assert_eq!(wwid_from_sysfs("garbage"), None);
    }

    /// Bounded random fuzzing: arbitrary bytes never panic the parser.
    #[test]
    fn random_pages_never_panic() {
        let mut rng = crate::testrand::Rng::new(0x83);
        for _ in 0..200_000 {
            let len = rng.below(64);
            let mut p: Vec<u8> = (0..len).map(|_| rng.byte()).collect();
            if p.len() > 3 && rng.below(2) == 0 {
                p[1] = 0x83;
                let l = (p.len() - 4) as u16;
                p[2..4].copy_from_slice(&l.to_be_bytes());
            }
            let _ = port_ids(&p);
            if let Ok(w) = wwid_from_pg83(&p) {
                assert!(valid_wwid(&w) && crate::text::is_safe(&w), "{w:?}");
            }
        }
    }
}
