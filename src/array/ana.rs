//! NVMe Asymmetric Namespace Access (NVMe Base 2.0, 8.1.3 and 5.16.1.12):
//! what Identify Controller and Identify Namespace say about it, and the
//! ANA log page (LID 0Ch), read as multipath-tools' `ana` prioritizer
//! reads them. Pure parsers of bytes from the controller: every length is
//! bounded by the buffer, nothing panics (random-input tests below).

use std::fmt;

/// Identify (admin opcode 06h): CNS 1, the controller; CNS 0, a namespace.
pub const IDENTIFY: u8 = 0x06;
/// Get Log Page (admin opcode 02h).
pub const GET_LOG_PAGE: u8 = 0x02;
/// The ANA log page's identifier.
const ANA_LID: u32 = 0x0c;
/// Identify data is always 4 KiB.
pub const IDENTIFY_LEN: usize = 4096;
/// The largest ANA log mpboot reads (NANAGRPID and MNAN as the controller
/// reports them decide less, normally a few KiB).
pub const LOG_MAX: usize = 256 * 1024;

/// An ANA group's state for the namespaces in it, through this controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnaState {
    Optimized,
    NonOptimized,
    Inaccessible,
    PersistentLoss,
    Change,
}

impl AnaState {
    pub fn from_code(code: u8) -> Option<AnaState> {
        Some(match code & 0xf {
            0x1 => AnaState::Optimized,
            0x2 => AnaState::NonOptimized,
            0x3 => AnaState::Inaccessible,
            0x4 => AnaState::PersistentLoss,
            0xf => AnaState::Change,
            _ => return None,
        })
    }

    /// Its code in the log (and in a helper child's answer).
    pub fn code(self) -> u8 {
        match self {
            AnaState::Optimized => 0x1,
            AnaState::NonOptimized => 0x2,
            AnaState::Inaccessible => 0x3,
            AnaState::PersistentLoss => 0x4,
            AnaState::Change => 0xf,
        }
    }

    /// Its ALUA counterpart, for showing it.
    pub fn alua(self) -> crate::topology::AluaState {
        use crate::topology::AluaState;
        match self {
            AnaState::Optimized => AluaState::Optimized,
            AnaState::NonOptimized => AluaState::NonOptimized,
            AnaState::Inaccessible => AluaState::Unavailable,
            AnaState::PersistentLoss => AluaState::Offline,
            AnaState::Change => AluaState::Transitioning,
        }
    }

    /// The path's priority, as multipath-tools' `ana` prioritizer gives it.
    pub fn prio(self) -> u32 {
        match self {
            AnaState::Optimized => 50,
            AnaState::NonOptimized => 10,
            AnaState::Inaccessible | AnaState::Change => 1,
            AnaState::PersistentLoss => 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnaError {
    /// Fewer bytes than the structure needs.
    TooShort { what: &'static str, len: usize },
    /// CMIC bit 3 clear: the controller reports no ANA (one group then).
    NotReported,
    /// No descriptor names the namespace (nor its group).
    NotFound { nsid: u32 },
    /// A descriptor with a reserved state code.
    BadState { group: u32, code: u8 },
    /// A descriptor whose NSID list runs past the log.
    Overrun { group: u32 },
}

impl fmt::Display for AnaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnaError::TooShort { what, len } => write!(f, "{what}: {len} bytes is too short"),
            AnaError::NotReported => write!(f, "the controller reports no ANA"),
            AnaError::NotFound { nsid } => write!(f, "namespace {nsid} is in no ANA group"),
            AnaError::BadState { group, code } => {
                write!(f, "ANA group {group}: reserved state {code:#x}")
            }
            AnaError::Overrun { group } => {
                write!(f, "ANA group {group}: its namespace list runs past the log")
            }
        }
    }
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// What Identify Controller says about ANA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControllerAna {
    /// ANACAP bit 6: a namespace's group does not change while attached,
    /// so the log can be read without NSID lists (RGO).
    pub static_groups: bool,
    /// NANAGRPID: how many ANA groups the controller has.
    pub groups: u32,
    /// MNAN: the most namespaces the log can list.
    pub max_namespaces: u32,
}

/// Identify Controller's ANA fields: CMIC (byte 76) bit 3, ANACAP (343),
/// NANAGRPID (351:348), MNAN (543:540).
pub fn controller(id: &[u8]) -> Result<ControllerAna, AnaError> {
    let short = AnaError::TooShort {
        what: "Identify Controller",
        len: id.len(),
    };
    let cmic = *id.get(76).ok_or(short.clone())?;
    if cmic & 0x08 == 0 {
        return Err(AnaError::NotReported);
    }
    Ok(ControllerAna {
        static_groups: id.get(343).ok_or(short.clone())? & 0x40 != 0,
        groups: le32(id, 348).ok_or(short.clone())?,
        max_namespaces: le32(id, 540).ok_or(short)?,
    })
}

/// Identify Namespace's ANAGRPID (bytes 95:92).
pub fn namespace_group(id: &[u8]) -> Result<u32, AnaError> {
    le32(id, 92).ok_or(AnaError::TooShort {
        what: "Identify Namespace",
        len: id.len(),
    })
}

/// How many bytes the whole log takes, bounded by `LOG_MAX`: a 16-byte
/// header, 32 per group, and 4 per namespace unless read groups-only.
pub fn log_len(c: &ControllerAna) -> usize {
    let groups = 32 * c.groups as usize;
    let nsids = if c.static_groups {
        0
    } else {
        4 * c.max_namespaces as usize
    };
    16usize
        .saturating_add(groups)
        .saturating_add(nsids)
        .min(LOG_MAX)
}

/// Get Log Page's command dwords 10 and 11 for the ANA log of `len` bytes:
/// LID 0Ch, RGO (groups only) when `groups_only`, RAE (retain the
/// asynchronous event), the length in dwords less one.
pub fn log_cdw(len: usize, groups_only: bool) -> (u32, u32) {
    let numd = (len / 4).saturating_sub(1) as u32;
    let rgo = if groups_only { 1 << 8 } else { 0 };
    let cdw10 = ANA_LID | rgo | (1 << 15) | ((numd & 0xffff) << 16);
    (cdw10, numd >> 16)
}

/// The namespace's ANA state and group from the log: the descriptor whose
/// NSID list holds `nsid`, else (a groups-only log) the one of its `group`.
pub fn state_of(log: &[u8], nsid: u32, group: Option<u32>) -> Result<(AnaState, u32), AnaError> {
    let count = log.get(8..10).ok_or(AnaError::TooShort {
        what: "ANA log",
        len: log.len(),
    })?;
    let count = u16::from_le_bytes([count[0], count[1]]);
    let mut at = 16usize;
    for _ in 0..count {
        let (Some(id), Some(nnv), Some(&code)) =
            (le32(log, at), le32(log, at + 4), log.get(at + 16))
        else {
            break;
        };
        let list = at + 32;
        let end = (nnv as usize)
            .checked_mul(4)
            .and_then(|n| n.checked_add(list))
            .filter(|&e| e <= log.len())
            .ok_or(AnaError::Overrun { group: id })?;
        let named = (list..end).step_by(4).any(|i| le32(log, i) == Some(nsid));
        if named || (nnv == 0 && group == Some(id)) {
            let state = AnaState::from_code(code).ok_or(AnaError::BadState { group: id, code })?;
            return Ok((state, id));
        }
        at = end;
    }
    Err(AnaError::NotFound { nsid })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(log: &[u8], nsid: u32, group: Option<u32>) -> Result<AnaState, AnaError> {
        state_of(log, nsid, group).map(|(s, _)| s)
    }

    /// A log: header (change count 9), then (group id, state, NSIDs).
    fn log(groups: &[(u32, u8, &[u32])]) -> Vec<u8> {
        let mut b = vec![0u8; 16];
        b[0] = 9;
        b[8..10].copy_from_slice(&(groups.len() as u16).to_le_bytes());
        for (id, state, nsids) in groups {
            let mut d = vec![0u8; 32];
            d[..4].copy_from_slice(&id.to_le_bytes());
            d[4..8].copy_from_slice(&(nsids.len() as u32).to_le_bytes());
            d[8] = 9;
            d[16] = *state;
            for n in *nsids {
                d.extend_from_slice(&n.to_le_bytes());
            }
            b.extend_from_slice(&d);
        }
        b
    }

    /// The log nvmet's port 1 sent in the lab (NVME-NOTES §3): group 1
    /// non-optimized with NSID 2, group 2 optimized with NSID 1, group 3
    /// inaccessible with NSID 3.
    #[test]
    fn nvmets_log() {
        let l = log(&[(1, 0x02, &[2]), (2, 0x01, &[1]), (3, 0x03, &[3])]);
        assert_eq!(l.len(), 124);
        assert_eq!((l[32], l[48], l[68], l[84]), (2, 2, 1, 1));
        assert_eq!(state(&l, 1, None), Ok(AnaState::Optimized));
        assert_eq!(state(&l, 2, None), Ok(AnaState::NonOptimized));
        assert_eq!(state(&l, 3, None), Ok(AnaState::Inaccessible));
        assert_eq!(state(&l, 4, None), Err(AnaError::NotFound { nsid: 4 }));
        // Priorities as multipath-tools' ana prioritizer.
        let prios: Vec<u32> = [1, 2, 3]
            .iter()
            .map(|&n| state(&l, n, None).unwrap().prio())
            .collect();
        assert_eq!(prios, [50, 10, 1]);
        assert_eq!(AnaState::Change.prio(), 1);
        assert_eq!(AnaState::PersistentLoss.prio(), 0);
    }

    #[test]
    fn groups_only_logs_are_read_by_group() {
        let l = log(&[(1, 0x01, &[]), (7, 0x0f, &[])]);
        assert_eq!(state(&l, 5, Some(7)), Ok(AnaState::Change));
        assert_eq!(state(&l, 5, Some(1)), Ok(AnaState::Optimized));
        assert_eq!(state(&l, 5, None), Err(AnaError::NotFound { nsid: 5 }));
        let bad = log(&[(4, 0x05, &[])]);
        assert_eq!(
            state(&bad, 1, Some(4)),
            Err(AnaError::BadState { group: 4, code: 5 })
        );
    }

    #[test]
    fn truncated_logs() {
        let l = log(&[(1, 0x02, &[2]), (2, 0x01, &[1])]);
        // Cut in the second descriptor's NSID list: an overrun, said so.
        assert_eq!(
            state(&l[..l.len() - 2], 1, None),
            Err(AnaError::Overrun { group: 2 })
        );
        // Cut before the second descriptor: the first is still read.
        assert_eq!(state(&l[..52], 2, None), Ok(AnaState::NonOptimized));
        assert_eq!(
            state(&l[..52], 1, None),
            Err(AnaError::NotFound { nsid: 1 })
        );
        assert!(matches!(
            state(&l[..9], 1, None),
            Err(AnaError::TooShort { .. })
        ));
        // A count larger than the descriptors there.
        let mut more = l.clone();
        more[8] = 200;
        assert_eq!(state(&more, 1, None), Ok(AnaState::Optimized));
        // An NSID count that would wrap.
        let mut wild = l;
        wild[16 + 4..16 + 8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(state(&wild, 1, None), Err(AnaError::Overrun { group: 1 }));
    }

    /// Identify Controller as nvmet fills it (CMIC 0x0b, ANACAP 0x1f,
    /// NANAGRPID 128, MNAN 1024) and as QEMU's (CMIC 0x02: no ANA).
    #[test]
    fn identify_controller() {
        let mut id = vec![0u8; IDENTIFY_LEN];
        id[76] = 0x0b;
        id[343] = 0x1f;
        id[348..352].copy_from_slice(&128u32.to_le_bytes());
        id[540..544].copy_from_slice(&1024u32.to_le_bytes());
        let c = controller(&id).unwrap();
        assert_eq!(
            c,
            ControllerAna {
                static_groups: false,
                groups: 128,
                max_namespaces: 1024
            }
        );
        assert_eq!(log_len(&c), 16 + 128 * 32 + 1024 * 4);
        let rgo = ControllerAna {
            static_groups: true,
            ..c
        };
        assert_eq!(log_len(&rgo), 16 + 128 * 32);
        let huge = ControllerAna {
            groups: u32::MAX,
            ..c
        };
        assert_eq!(log_len(&huge), LOG_MAX);
        assert!(matches!(
            controller(&id[..100]),
            Err(AnaError::TooShort { .. })
        ));
        id[76] = 0x02;
        assert_eq!(controller(&id), Err(AnaError::NotReported));
        let mut ns = vec![0u8; IDENTIFY_LEN];
        ns[92..96].copy_from_slice(&3u32.to_le_bytes());
        assert_eq!(namespace_group(&ns), Ok(3));
        assert!(namespace_group(&ns[..95]).is_err());
    }

    /// Get Log Page's dwords: LID 0Ch, RAE, NUMDL/NUMDU split at 16 bits.
    #[test]
    fn log_command_dwords() {
        assert_eq!(log_cdw(4096, false), (0x0c | 0x8000 | (1023 << 16), 0));
        assert_eq!(
            log_cdw(16 + 32, true),
            (0x0c | 0x100 | 0x8000 | (11 << 16), 0)
        );
        let (lo, hi) = log_cdw(LOG_MAX, false);
        assert_eq!(((lo >> 16) | (hi << 16)) as usize, LOG_MAX / 4 - 1);
    }

    #[test]
    fn random_logs_never_panic() {
        let mut rng = crate::testrand::Rng::new(0x0c);
        for _ in 0..50_000 {
            let len = rng.below(200);
            let mut b: Vec<u8> = (0..len).map(|_| rng.byte()).collect();
            if b.len() > 10 && rng.below(2) == 0 {
                b[8] = rng.below(4) as u8;
                b[9] = 0;
            }
            let nsid = rng.below(4) as u32;
            let _ = state_of(&b, nsid, Some(nsid));
            let _ = controller(&b);
            let _ = namespace_group(&b);
        }
    }
}
