//! Partition tables, as kpartx reads them: MBR (with the extended chain of
//! logical partitions) and GPT (header and entry array CRCs checked, the
//! backup header used when the primary is bad). Pure: the caller hands in a
//! `read(lba, count)` closure, so parsing never touches a device.
//!
//! Positions are in 512-byte sectors, as device-mapper tables count.

use std::fmt;

/// One partition, numbered as the kernel and kpartx number them (logical
/// MBR partitions from 5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    pub number: u32,
    /// First sector, 512-byte units.
    pub start: u64,
    /// Length, 512-byte units.
    pub size: u64,
    /// GPT unique partition GUID, or MBR `SSSSSSSS-NN`: what PARTUUID= names.
    pub partuuid: String,
    /// GPT partition name: what PARTLABEL= names.
    pub label: Option<String>,
    /// An MBR extended partition (container of the logical ones).
    pub extended: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableKind {
    Mbr,
    Gpt,
    /// GPT whose primary header or entries were bad: read from the backup.
    GptBackup,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub kind: TableKind,
    pub partitions: Vec<Partition>,
    /// Entries skipped or cut short, as the kernel does, for the log.
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartError {
    /// The device could not be read at this LBA.
    Read { lba: u64 },
    /// Neither GPT header is valid, and the protective MBR says GPT.
    GptCorrupt,
}

impl fmt::Display for PartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PartError::Read { lba } => write!(f, "cannot read sector {lba}"),
            PartError::GptCorrupt => write!(f, "GPT: primary and backup headers both invalid"),
        }
    }
}

impl std::error::Error for PartError {}

/// CRC-32 (IEEE 802.3, reflected), as GPT uses.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xedb8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

fn le16(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}

fn le32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().unwrap_or([0; 4]))
}

fn le64(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().unwrap_or([0; 8]))
}

/// A GUID in its mixed-endian on-disk form, printed as PARTUUID= spells it.
pub fn guid(b: &[u8]) -> String {
    format!(
        "{:08x}-{:04x}-{:04x}-{:02x}{:02x}-{}",
        le32(b, 0),
        le16(b, 4),
        le16(b, 6),
        b[8],
        b[9],
        b[10..16]
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect::<String>()
    )
}

/// Most partitions any table may declare; stops hostile entry counts.
const MAX_PARTS: u64 = 256;
/// Longest extended chain followed.
const MAX_LOGICAL: u32 = 128;

/// Read the partition table of a disk of `disk_sectors` 512-byte sectors
/// and logical block size `block` (512 or 4096). `read(lba, n)` returns
/// `n` logical blocks from `lba`, or None. No table at all is `Ok(None)`.
pub fn read_table(
    disk_sectors: u64,
    block: u32,
    read: &mut dyn FnMut(u64, u64) -> Option<Vec<u8>>,
) -> Result<Option<Table>, PartError> {
    let bs = u64::from(block.max(512));
    let per_block = bs / 512;
    let disk_blocks = disk_sectors / per_block;
    let mbr = read(0, 1).ok_or(PartError::Read { lba: 0 })?;
    if mbr.len() < 512 || mbr[510] != 0x55 || mbr[511] != 0xaa {
        return Ok(None);
    }
    let protective = (0..4).any(|i| mbr[446 + 16 * i + 4] == 0xee);
    if protective {
        return read_gpt(disk_blocks, bs, read).map(Some);
    }
    read_mbr(&mbr, disk_blocks, per_block, read).map(Some)
}

struct GptHeader {
    entries_lba: u64,
    count: u64,
    entry_size: u64,
    entries_crc: u32,
}

fn gpt_header(b: &[u8], at_lba: u64) -> Option<GptHeader> {
    if b.len() < 92 || &b[0..8] != b"EFI PART" {
        return None;
    }
    let hsize = le32(b, 12) as usize;
    if !(92..=b.len()).contains(&hsize) {
        return None;
    }
    let mut h = b[..hsize].to_vec();
    h[16..20].fill(0);
    if crc32(&h) != le32(b, 16) || le64(b, 24) != at_lba {
        return None;
    }
    let entry_size = u64::from(le32(b, 84));
    let count = u64::from(le32(b, 80));
    if !(128..=4096).contains(&entry_size) || entry_size % 8 != 0 || count > MAX_PARTS * 4 {
        return None;
    }
    Some(GptHeader {
        entries_lba: le64(b, 72),
        count,
        entry_size,
        entries_crc: le32(b, 88),
    })
}

fn read_gpt(
    disk_blocks: u64,
    bs: u64,
    read: &mut dyn FnMut(u64, u64) -> Option<Vec<u8>>,
) -> Result<Table, PartError> {
    let last = disk_blocks.saturating_sub(1);
    for (lba, kind) in [(1, TableKind::Gpt), (last, TableKind::GptBackup)] {
        let Some(hb) = read(lba, 1) else { continue };
        let Some(h) = gpt_header(&hb, lba) else {
            continue;
        };
        let bytes = h.count * h.entry_size;
        let blocks = bytes.div_ceil(bs);
        if h.entries_lba == 0 || h.entries_lba.saturating_add(blocks) > disk_blocks {
            continue;
        }
        let Some(entries) = read(h.entries_lba, blocks) else {
            continue;
        };
        if (entries.len() as u64) < bytes || crc32(&entries[..bytes as usize]) != h.entries_crc {
            continue;
        }
        let mut parts = Vec::new();
        let mut notes = Vec::new();
        for i in 0..h.count {
            let e = &entries[(i * h.entry_size) as usize..((i + 1) * h.entry_size) as usize];
            if e[0..16].iter().all(|&x| x == 0) {
                continue; // unused entry
            }
            let (first, last_lba) = (le64(e, 32), le64(e, 40));
            if last_lba < first || last_lba >= disk_blocks || parts.len() as u64 >= MAX_PARTS {
                // As the kernel's efi.c: an entry outside the disk is skipped.
                notes.push(format!("GPT entry {} is outside the disk: skipped", i + 1));
                continue;
            }
            let units: Vec<u16> = (0..36)
                .map(|k| le16(e, 56 + 2 * k))
                .take_while(|&u| u != 0)
                .collect();
            let name = String::from_utf16_lossy(&units);
            let per = bs / 512;
            parts.push(Partition {
                number: i as u32 + 1,
                start: first * per,
                size: (last_lba - first + 1) * per,
                partuuid: guid(&e[16..32]),
                label: Some(name),
                extended: false,
            });
        }
        return Ok(Table {
            kind,
            partitions: parts,
            notes,
        });
    }
    Err(PartError::GptCorrupt)
}

fn is_extended(t: u8) -> bool {
    matches!(t, 0x05 | 0x0f | 0x85)
}

/// An entry as the kernel's `blk_add_partition` takes it: one that starts
/// past the end of the disk is skipped, one that runs past it is cut at
/// the end. Returns the (start, size) to use, noting what was changed.
fn clamp(
    what: &str,
    start: u64,
    size: u64,
    disk_blocks: u64,
    notes: &mut Vec<String>,
) -> Option<(u64, u64)> {
    if start >= disk_blocks {
        notes.push(format!("{what} starts past the end of the disk: skipped"));
        return None;
    }
    if start + size > disk_blocks {
        notes.push(format!(
            "{what} runs past the end of the disk: cut at the end"
        ));
        return Some((start, disk_blocks - start));
    }
    Some((start, size))
}

fn read_mbr(
    mbr: &[u8],
    disk_blocks: u64,
    per_block: u64,
    read: &mut dyn FnMut(u64, u64) -> Option<Vec<u8>>,
) -> Result<Table, PartError> {
    let sig = le32(mbr, 440);
    let entry = |b: &[u8], i: usize| {
        let e = &b[446 + 16 * i..446 + 16 * (i + 1)];
        (e[4], u64::from(le32(e, 8)), u64::from(le32(e, 12)))
    };
    // MBR LBAs count logical blocks.
    let mk = |number: u32, start: u64, size: u64, extended| Partition {
        number,
        start: start * per_block,
        size: size * per_block,
        partuuid: format!("{sig:08x}-{number:02x}"),
        label: None,
        extended,
    };
    let mut parts = Vec::new();
    let mut notes = Vec::new();
    let mut exts = Vec::new();
    // As the kernel's msdos parser and kpartx: every entry with a size is
    // a partition, whatever its type (type 0 too), and every extended
    // one's chain is followed, logical numbers running on from one to
    // the next.
    for i in 0..4 {
        let (t, start, size) = entry(mbr, i);
        if size == 0 {
            continue;
        }
        let what = format!("partition {}", i + 1);
        let Some((start, size)) = clamp(&what, start, size, disk_blocks, &mut notes) else {
            continue;
        };
        let mut part = mk(i as u32 + 1, start, size, is_extended(t));
        if part.extended {
            exts.push((start, size));
            // As the kernel and kpartx do: the container is mapped as a stub
            // of 2 sectors (one block on larger-sector disks), so nothing
            // written through it lands on the logical partitions.
            part.size = part.size.min(per_block.max(2));
        }
        parts.push(part);
    }
    let mut number = 5;
    for (ext_start, ext_size) in exts {
        let found = logical(ext_start, ext_size, number, disk_blocks, read, &mut notes)?;
        number += found.len() as u32;
        for (n, start, size) in found {
            let what = format!("logical partition {n}");
            if let Some((start, size)) = clamp(&what, start, size, disk_blocks, &mut notes) {
                parts.push(mk(n, start, size, false));
            }
        }
    }
    Ok(Table {
        kind: TableKind::Mbr,
        partitions: parts,
        notes,
    })
}

/// Follow the chain of EBRs from the extended partition at `ext_start`:
/// each logical partition (numbered from `first`, absolute start, size),
/// as the kernel's `parse_extended` reads an EBR: every entry with a size
/// that is not extended is a logical partition, in whichever slot (DR-DOS
/// puts the link first; entries 3 and 4 count only when they lie inside
/// this EBR's extent and the extended partition, since they hold garbage
/// at times), and the first extended entry links to the next EBR, relative
/// to the extended partition. The chain may go backwards on the disk
/// (sfdisk makes such chains); it ends at an EBR without signature or
/// link, one past the disk, one already visited, or after MAX_LOGICAL.
fn logical(
    ext_start: u64,
    ext_size: u64,
    first: u32,
    disk_blocks: u64,
    read: &mut dyn FnMut(u64, u64) -> Option<Vec<u8>>,
    notes: &mut Vec<String>,
) -> Result<Vec<(u32, u64, u64)>, PartError> {
    let entry = |b: &[u8], i: usize| {
        let e = &b[446 + 16 * i..446 + 16 * (i + 1)];
        (e[4], u64::from(le32(e, 8)), u64::from(le32(e, 12)))
    };
    let mut found = Vec::new();
    let mut visited = std::collections::BTreeSet::new();
    let (mut ebr, mut this_size) = (ext_start, ext_size);
    for _ in 0..MAX_LOGICAL {
        if ebr >= disk_blocks {
            notes.push("extended partition chain leads past the disk: ended there".into());
            break;
        }
        if !visited.insert(ebr) {
            notes.push("extended partition chain loops: ended there".into());
            break;
        }
        let b = read(ebr, 1).ok_or(PartError::Read { lba: ebr })?;
        if b.len() < 512 || b[510] != 0x55 || b[511] != 0xaa {
            break;
        }
        let entries: Vec<(u8, u64, u64)> = (0..4).map(|i| entry(&b, i)).collect();
        for (i, &(t, start, size)) in entries.iter().enumerate() {
            if size == 0 || is_extended(t) {
                continue;
            }
            let at = ebr + start;
            let inside =
                start + size <= this_size && at >= ext_start && at + size <= ext_start + ext_size;
            if i >= 2 && !inside {
                continue;
            }
            found.push((first + found.len() as u32, at, size));
        }
        let Some(&(_, next, size)) = entries.iter().find(|(t, _, n)| is_extended(*t) && *n != 0)
        else {
            break;
        };
        (ebr, this_size) = (ext_start + next, size);
    }
    Ok(found)
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// (number, start, size) of each partition.
    fn layout(t: &Table) -> Vec<(u32, u64, u64)> {
        t.partitions
            .iter()
            .map(|p| (p.number, p.start, p.size))
            .collect()
    }

    /// An in-memory disk of 512-byte sectors.
    pub struct Disk(pub Vec<u8>);

    impl Disk {
        pub fn new(sectors: usize) -> Disk {
            Disk(vec![0; sectors * 512])
        }
        pub fn sectors(&self) -> u64 {
            (self.0.len() / 512) as u64
        }
        pub fn at(&mut self, lba: u64) -> &mut [u8] {
            &mut self.0[lba as usize * 512..(lba as usize + 1) * 512]
        }
        pub fn table(&self) -> Result<Option<Table>, PartError> {
            let d = &self.0;
            read_table(self.sectors(), 512, &mut |lba, n| {
                let (a, b) = (lba as usize * 512, (lba + n) as usize * 512);
                d.get(a..b).map(<[u8]>::to_vec)
            })
        }
    }

    pub fn mbr_entry(s: &mut [u8], i: usize, t: u8, start: u32, size: u32) {
        let e = &mut s[446 + 16 * i..446 + 16 * (i + 1)];
        e[4] = t;
        e[8..12].copy_from_slice(&start.to_le_bytes());
        e[12..16].copy_from_slice(&size.to_le_bytes());
        s[510] = 0x55;
        s[511] = 0xaa;
    }

    /// A GPT with the given (first, last, name) partitions, both copies.
    pub fn gpt_disk(sectors: usize, parts: &[(u64, u64, &str)]) -> Disk {
        let mut d = Disk::new(sectors);
        mbr_entry(d.at(0), 0, 0xee, 1, (sectors - 1) as u32);
        let mut entries = vec![0u8; 128 * 128];
        for (i, (first, last, name)) in parts.iter().enumerate() {
            let e = &mut entries[i * 128..(i + 1) * 128];
            e[0] = 0xaf; // type GUID: anything non-zero
            e[16..32].copy_from_slice(&[i as u8 + 1; 16]);
            e[32..40].copy_from_slice(&first.to_le_bytes());
            e[40..48].copy_from_slice(&last.to_le_bytes());
            for (k, u) in name.encode_utf16().enumerate() {
                e[56 + 2 * k..58 + 2 * k].copy_from_slice(&u.to_le_bytes());
            }
        }
        let ecrc = crc32(&entries);
        let last = sectors as u64 - 1;
        for (my, alt, elba) in [(1u64, last, 2u64), (last, 1, last - 32)] {
            let mut h = vec![0u8; 92];
            h[0..8].copy_from_slice(b"EFI PART");
            h[8..12].copy_from_slice(&0x0001_0000u32.to_le_bytes());
            h[12..16].copy_from_slice(&92u32.to_le_bytes());
            h[24..32].copy_from_slice(&my.to_le_bytes());
            h[32..40].copy_from_slice(&alt.to_le_bytes());
            h[72..80].copy_from_slice(&elba.to_le_bytes());
            h[80..84].copy_from_slice(&128u32.to_le_bytes());
            h[84..88].copy_from_slice(&128u32.to_le_bytes());
            h[88..92].copy_from_slice(&ecrc.to_le_bytes());
            let c = crc32(&h);
            h[16..20].copy_from_slice(&c.to_le_bytes());
            d.at(my)[..92].copy_from_slice(&h);
            let at = elba as usize * 512;
            d.0[at..at + entries.len()].copy_from_slice(&entries);
        }
        d
    }

    #[test]
    fn crc32_known_value() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
    }

    #[test]
    fn gpt_three_partitions() {
        let d = gpt_disk(
            4096,
            &[
                (34, 1057, "boot"),
                (1058, 2081, "root"),
                (2082, 4062, "data"),
            ],
        );
        let t = d.table().unwrap().unwrap();
        assert_eq!(t.kind, TableKind::Gpt);
        let got: Vec<_> = t
            .partitions
            .iter()
            .map(|p| (p.number, p.start, p.size, p.label.clone().unwrap()))
            .collect();
        assert_eq!(
            got,
            vec![
                (1, 34, 1024, "boot".into()),
                (2, 1058, 1024, "root".into()),
                (3, 2082, 1981, "data".into())
            ]
        );
        assert_eq!(
            t.partitions[0].partuuid,
            "01010101-0101-0101-0101-010101010101"
        );
    }

    #[test]
    fn gpt_corrupt_primary_uses_backup() {
        let mut d = gpt_disk(4096, &[(34, 1057, "root")]);
        d.at(1)[40] ^= 0xff; // header CRC now wrong
        let t = d.table().unwrap().unwrap();
        assert_eq!(t.kind, TableKind::GptBackup);
        assert_eq!(t.partitions.len(), 1);
        // Corrupt primary entries (not header): backup again.
        let mut d = gpt_disk(4096, &[(34, 1057, "root")]);
        d.at(2)[33] ^= 1;
        assert_eq!(d.table().unwrap().unwrap().kind, TableKind::GptBackup);
        // Both gone: an error, not an empty table.
        d.at(1)[40] ^= 0xff;
        d.at(4095)[40] ^= 0xff;
        assert_eq!(d.table(), Err(PartError::GptCorrupt));
    }

    #[test]
    fn mbr_with_logical_partitions() {
        let mut d = Disk::new(8192);
        d.at(0)[440..444].copy_from_slice(&0x1234_abcdu32.to_le_bytes());
        mbr_entry(d.at(0), 0, 0x83, 2048, 1024);
        mbr_entry(d.at(0), 1, 0x05, 3072, 4096);
        // EBR 1 at 3072: logical at +2048 rel. to EBR, next EBR at ext+2048.
        mbr_entry(d.at(3072), 0, 0x83, 2048 - 1024, 512);
        mbr_entry(d.at(3072), 1, 0x05, 2048, 2048);
        mbr_entry(d.at(5120), 0, 0x83, 64, 256);
        let t = d.table().unwrap().unwrap();
        assert_eq!(t.kind, TableKind::Mbr);
        let got: Vec<_> = t
            .partitions
            .iter()
            .map(|p| (p.number, p.start, p.size, p.extended))
            .collect();
        assert_eq!(
            got,
            vec![
                (1, 2048, 1024, false),
                (2, 3072, 2, true),
                (5, 4096, 512, false),
                (6, 5184, 256, false)
            ]
        );
        assert_eq!(t.partitions[0].partuuid, "1234abcd-01");
    }

    #[test]
    fn hostile_mbrs_are_cut_skipped_or_empty() {
        let d = Disk::new(64);
        assert_eq!(d.table(), Ok(None)); // no signature
                                         // As the kernel: an entry past the end is cut there; one starting
                                         // past it is skipped; the rest of the table still counts.
        let mut d = Disk::new(64);
        mbr_entry(d.at(0), 0, 0x83, 10, 1000);
        mbr_entry(d.at(0), 1, 0x83, 100, 10);
        mbr_entry(d.at(0), 2, 0x83, 2, 4);
        let t = d.table().unwrap().unwrap();
        let got = layout(&t);
        assert_eq!(got, vec![(1, 10, 54), (3, 2, 4)]);
        assert_eq!(t.notes.len(), 2, "{:?}", t.notes);
        // An EBR pointing at itself: the chain ends there.
        let mut d = Disk::new(64);
        mbr_entry(d.at(0), 0, 0x05, 8, 50);
        mbr_entry(d.at(8), 0, 0x83, 1, 2);
        mbr_entry(d.at(8), 1, 0x05, 0, 2);
        let t = d.table().unwrap().unwrap();
        assert_eq!(t.partitions.len(), 2);
        // A link past the disk ends the chain; what came before stays.
        mbr_entry(d.at(8), 1, 0x05, 0xffff_fff0, 2);
        let t = d.table().unwrap().unwrap();
        assert_eq!(t.partitions.len(), 2);
        assert!(t.notes[0].contains("past the disk"), "{:?}", t.notes);
        // A chain 8 -> 28 -> 48 -> 28: each logical once, then it ends.
        mbr_entry(d.at(8), 1, 0x05, 20, 10);
        mbr_entry(d.at(28), 0, 0x83, 1, 2);
        mbr_entry(d.at(28), 1, 0x05, 40, 10);
        mbr_entry(d.at(48), 0, 0x83, 1, 2);
        mbr_entry(d.at(48), 1, 0x05, 20, 10);
        let t = d.table().unwrap().unwrap();
        assert_eq!(t.partitions.len(), 4);
        assert!(t.notes[0].contains("loops"), "{:?}", t.notes);
    }

    /// What the kernel's parser and kpartx accept beyond the usual layout:
    /// an EBR with its link first and its data second (DR-DOS), a type-0
    /// primary entry with a size, two extended partitions (numbers run on),
    /// and garbage in an EBR's third entry that lies outside it.
    #[test]
    fn mbr_as_the_kernel_reads_it() {
        let mut d = Disk::new(16384);
        mbr_entry(d.at(0), 0, 0x83, 2048, 2048);
        mbr_entry(d.at(0), 1, 0x00, 4096, 1024);
        mbr_entry(d.at(0), 2, 0x05, 6144, 4096);
        mbr_entry(d.at(0), 3, 0x0f, 10240, 4096);
        // Extended A: link first, data second; the next EBR has data only.
        mbr_entry(d.at(6144), 0, 0x05, 2048, 2048);
        mbr_entry(d.at(6144), 1, 0x83, 64, 512);
        mbr_entry(d.at(6144), 2, 0x83, 9000, 100);
        mbr_entry(d.at(8192), 0, 0x83, 64, 256);
        // Extended B: one logical, numbered on from A's.
        mbr_entry(d.at(10240), 0, 0x83, 64, 128);
        let t = d.table().unwrap().unwrap();
        let got = layout(&t);
        assert_eq!(
            got,
            vec![
                (1, 2048, 2048),
                (2, 4096, 1024),
                (3, 6144, 2),
                (4, 10240, 2),
                (5, 6208, 512),
                (6, 8256, 256),
                (7, 10304, 128)
            ]
        );
    }

    /// sfdisk's chains may go backwards on the disk: logicals at 80000,
    /// 60000 and 20480, each EBR just before its partition. The kernel and
    /// kpartx map them as 5, 6, 7, in chain order.
    #[test]
    fn mbr_chain_going_backwards() {
        let mut d = Disk::new(100_000);
        mbr_entry(d.at(0), 0, 0x83, 2048, 8192);
        mbr_entry(d.at(0), 1, 0x05, 10240, 89_760);
        let ext = 10240u32;
        let links = [(79_998u32, 80_000u32), (59_998, 60_000), (20_478, 20_480)];
        // The first EBR sits at the start of the extended partition.
        let mut at = ext;
        for (k, &(ebr, start)) in links.iter().enumerate() {
            let ebr = if k == 0 { ext } else { ebr };
            assert_eq!(ebr, at);
            mbr_entry(d.at(u64::from(ebr)), 0, 0x83, start - ebr, 1000);
            if let Some(&(next, _)) = links.get(k + 1) {
                mbr_entry(d.at(u64::from(ebr)), 1, 0x05, next - ext, 1002);
                at = next;
            }
        }
        let t = d.table().unwrap().unwrap();
        let got: Vec<_> = t.partitions.iter().map(|p| (p.number, p.start)).collect();
        assert_eq!(
            got,
            vec![(1, 2048), (2, 10240), (5, 80_000), (6, 60_000), (7, 20_480)]
        );
        assert!(t.notes.is_empty(), "{:?}", t.notes);
    }

    /// Bounded fuzzing: mutated tables never panic, and whatever parses
    /// stays inside the disk.
    #[test]
    fn random_tables_never_panic() {
        let mut rng = crate::testrand::Rng::new(0x9e7);
        let seeds = [gpt_disk(256, &[(34, 100, "a"), (101, 200, "b")]), {
            let mut d = Disk::new(256);
            mbr_entry(d.at(0), 0, 0x83, 2, 10);
            mbr_entry(d.at(0), 1, 0x05, 20, 200);
            mbr_entry(d.at(20), 0, 0x83, 1, 5);
            mbr_entry(d.at(20), 1, 0x05, 10, 50);
            mbr_entry(d.at(30), 0, 0x83, 1, 5);
            d
        }];
        for i in 0..20_000 {
            let mut d = Disk(seeds[i % 2].0.clone());
            for _ in 0..1 + rng.below(8) {
                // Mutate where the structures live: sectors 0-2, 20, 30, last.
                let sector = [0, 1, 2, 20, 30, 255][rng.below(6)];
                let off = sector * 512 + rng.below(512);
                d.0[off] = rng.byte();
            }
            if let Ok(Some(t)) = d.table() {
                for p in &t.partitions {
                    assert!(p.start + p.size <= d.sectors(), "{p:?}");
                }
            }
        }
    }
}
