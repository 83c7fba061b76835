//! What is on a block device or partition: the superblocks `root=UUID=`
//! and `LABEL=` name (ext2/3/4, xfs, btrfs), and the signatures that mean
//! "root lives on top of this" (LUKS, LVM2). Pure: reads through a closure.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Ext,
    Xfs,
    Btrfs,
    Luks,
    Lvm2,
}

impl Kind {
    /// Something else (an encrypted or logical volume) is stacked on it.
    pub fn is_container(self) -> bool {
        matches!(self, Kind::Luks | Kind::Lvm2)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsInfo {
    pub kind: Kind,
    pub uuid: Option<String>,
    pub label: Option<String>,
}

/// A 16-byte UUID in the usual 8-4-4-4-12 form, or None when all zero.
fn uuid(b: &[u8]) -> Option<String> {
    let b = b.get(..16)?;
    if b.iter().all(|&x| x == 0) {
        return None;
    }
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Some(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

/// A NUL-padded label field, or None when empty.
fn label(b: &[u8]) -> Option<String> {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    let s = String::from_utf8_lossy(&b[..end]).trim_end().to_string();
    (!s.is_empty()).then_some(s)
}

/// Identify what starts at byte 0 of the region `read(offset, len)` covers.
pub fn probe(read: &mut dyn FnMut(u64, u64) -> Option<Vec<u8>>) -> Option<FsInfo> {
    if let Some(b) = read(0, 4096) {
        if b.starts_with(b"LUKS\xba\xbe") {
            // LUKS1 and LUKS2 both keep the UUID string at 168.
            return Some(FsInfo {
                kind: Kind::Luks,
                uuid: b.get(168..208).and_then(label),
                label: None,
            });
        }
        if b.starts_with(b"XFSB") {
            return Some(FsInfo {
                kind: Kind::Xfs,
                uuid: uuid(&b[32..48]),
                label: label(&b[108..120]),
            });
        }
        // LVM2's label may sit in any of the first four sectors.
        for s in 0..4 {
            let l = &b[s * 512..s * 512 + 32];
            if &l[0..8] == b"LABELONE" && &l[24..32] == b"LVM2 001" {
                return Some(FsInfo {
                    kind: Kind::Lvm2,
                    uuid: None,
                    label: None,
                });
            }
        }
        let sb = &b[1024..2048];
        if u16::from_le_bytes([sb[56], sb[57]]) == 0xef53 {
            return Some(FsInfo {
                kind: Kind::Ext,
                uuid: uuid(&sb[104..120]),
                label: label(&sb[120..136]),
            });
        }
    }
    let sb = read(65536, 4096)?;
    if &sb[64..72] == b"_BHRfS_M" {
        return Some(FsInfo {
            kind: Kind::Btrfs,
            uuid: uuid(&sb[32..48]),
            label: label(&sb[299..555]),
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(bytes: &[u8]) -> impl FnMut(u64, u64) -> Option<Vec<u8>> + '_ {
        move |off, len| {
            bytes
                .get(off as usize..(off + len) as usize)
                .map(<[u8]>::to_vec)
        }
    }

    const U: [u8; 16] = [
        0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd,
        0xef,
    ];
    const U_STR: &str = "12345678-9abc-def0-0123-456789abcdef";

    #[test]
    fn recognises_each_kind() {
        let mut ext = vec![0u8; 8192];
        ext[1024 + 56..1024 + 58].copy_from_slice(&0xef53u16.to_le_bytes());
        ext[1024 + 104..1024 + 120].copy_from_slice(&U);
        ext[1024 + 120..1024 + 124].copy_from_slice(b"root");
        assert_eq!(
            probe(&mut region(&ext)),
            Some(FsInfo {
                kind: Kind::Ext,
                uuid: Some(U_STR.into()),
                label: Some("root".into())
            })
        );
        let mut xfs = vec![0u8; 8192];
        xfs[0..4].copy_from_slice(b"XFSB");
        xfs[32..48].copy_from_slice(&U);
        let x = probe(&mut region(&xfs)).unwrap();
        assert_eq!(
            (x.kind, x.uuid.as_deref(), x.label),
            (Kind::Xfs, Some(U_STR), None)
        );
        let mut btrfs = vec![0u8; 65536 + 4096];
        btrfs[65536 + 64..65536 + 72].copy_from_slice(b"_BHRfS_M");
        btrfs[65536 + 32..65536 + 48].copy_from_slice(&U);
        btrfs[65536 + 299..65536 + 302].copy_from_slice(b"big");
        let b = probe(&mut region(&btrfs)).unwrap();
        assert_eq!((b.kind, b.label.as_deref()), (Kind::Btrfs, Some("big")));
        let mut luks = vec![0u8; 8192];
        luks[..6].copy_from_slice(b"LUKS\xba\xbe");
        luks[168..168 + 36].copy_from_slice(U_STR.as_bytes());
        let l = probe(&mut region(&luks)).unwrap();
        assert_eq!((l.kind, l.uuid.as_deref()), (Kind::Luks, Some(U_STR)));
        assert!(l.kind.is_container());
        let mut lvm = vec![0u8; 8192];
        lvm[512..520].copy_from_slice(b"LABELONE");
        lvm[536..544].copy_from_slice(b"LVM2 001");
        assert_eq!(probe(&mut region(&lvm)).unwrap().kind, Kind::Lvm2);
    }

    #[test]
    fn nothing_or_short_is_none() {
        assert_eq!(probe(&mut region(&[0u8; 100])), None);
        assert_eq!(probe(&mut region(&vec![0u8; 70000])), None);
        assert_eq!(probe(&mut |_, _| None), None);
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = crate::testrand::Rng::new(0x5b);
        let mut buf = vec![0u8; 65536 + 4096];
        for i in 0..3000 {
            for _ in 0..64 {
                let at = [0usize, 1024 + 56, 65536 + 64, 168, 512][rng.below(5)] + rng.below(600);
                let last = buf.len() - 1;
                buf[at.min(last)] = rng.byte();
            }
            if i % 7 == 0 {
                buf[1024 + 56..1024 + 58].copy_from_slice(&0xef53u16.to_le_bytes());
            }
            let _ = probe(&mut region(&buf));
        }
    }
}
