//! REPORT TARGET PORT GROUPS (SPC-4 6.36): the command and its answer,
//! each target port group's asymmetric access state, PREF bit and the
//! relative target ports in it.

use std::fmt;

use crate::topology::AluaState;

/// The CDB: MAINTENANCE IN, service action 0x0a, parameter data format 1
/// (extended header), allocation length `len`.
pub fn cdb(len: u32) -> [u8; 12] {
    let l = len.to_be_bytes();
    [0xa3, 0x20 | 0x0a, 0, 0, 0, 0, l[0], l[1], l[2], l[3], 0, 0]
}

/// One target port group as the array reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortGroup {
    pub id: u16,
    pub state: AluaState,
    pub preferred: bool,
    /// Relative target port identifiers of the group's ports.
    pub ports: Vec<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RtpgError {
    /// Fewer bytes than the header needs.
    TooShort { len: usize },
    /// A descriptor with a reserved asymmetric access state.
    BadState { group: u16, code: u8 },
    /// Not one whole descriptor.
    NoGroups,
}

impl fmt::Display for RtpgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RtpgError::TooShort { len } => write!(f, "answer is {len} bytes, header needs 8"),
            RtpgError::BadState { group, code } => {
                write!(f, "port group {group}: reserved access state {code:#x}")
            }
            RtpgError::NoGroups => write!(f, "no whole port group descriptor"),
        }
    }
}

fn state(code: u8) -> Option<AluaState> {
    Some(match code {
        0x0 => AluaState::Optimized,
        0x1 => AluaState::NonOptimized,
        0x2 => AluaState::Standby,
        0x3 => AluaState::Unavailable,
        0x4 => AluaState::LbaDependent,
        0xe => AluaState::Offline,
        0xf => AluaState::Transitioning,
        _ => return None,
    })
}

/// Parse an answer. A descriptor is read when it starts within the length
/// the header declares and ends within the bytes received: targets differ
/// on whether that length counts the extended header's second word (LIO
/// does not), so the kernel's alua handler reads it the same lenient way.
/// A descriptor cut off by the end of the data is dropped, as are the
/// ones after it.
pub fn parse(buf: &[u8]) -> Result<Vec<PortGroup>, RtpgError> {
    if buf.len() < 8 {
        return Err(RtpgError::TooShort { len: buf.len() });
    }
    let declared = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    let stop = declared.saturating_add(4);
    // Format 1: an 8-byte header (format, implicit transition time).
    let mut off = if (buf[4] >> 4) & 0x7 == 1 { 8 } else { 4 };
    let mut groups = Vec::new();
    while off < stop && off + 8 <= buf.len() {
        let d = &buf[off..];
        let count = usize::from(d[7]);
        if 8 + 4 * count > d.len() {
            break;
        }
        let id = u16::from_be_bytes([d[2], d[3]]);
        let code = d[0] & 0xf;
        let state = state(code).ok_or(RtpgError::BadState { group: id, code })?;
        let ports = (0..count)
            .map(|i| u16::from_be_bytes([d[8 + 4 * i + 2], d[8 + 4 * i + 3]]))
            .collect();
        groups.push(PortGroup {
            id,
            state,
            preferred: d[0] & 0x80 != 0,
            ports,
        });
        off += 8 + 4 * count;
    }
    if groups.is_empty() {
        return Err(RtpgError::NoGroups);
    }
    Ok(groups)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An extended-format answer with descriptors (state byte, id, ports).
    fn answer(extended: bool, groups: &[(u8, u16, &[u16])]) -> Vec<u8> {
        let mut body = Vec::new();
        for (st, id, ports) in groups {
            body.extend_from_slice(&[*st, 0xff]);
            body.extend_from_slice(&id.to_be_bytes());
            body.extend_from_slice(&[0, 0, 0, ports.len() as u8]);
            for p in *ports {
                body.extend_from_slice(&[0, 0]);
                body.extend_from_slice(&p.to_be_bytes());
            }
        }
        let mut out = Vec::new();
        let head = if extended { 4 } else { 0 };
        out.extend_from_slice(&((body.len() + head) as u32).to_be_bytes());
        if extended {
            out.extend_from_slice(&[0x10, 60, 0, 0]);
        }
        out.extend_from_slice(&body);
        out
    }

    #[test]
    fn cdb_asks_for_the_extended_format() {
        assert_eq!(cdb(4096), [0xa3, 0x2a, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0]);
    }

    #[test]
    fn answers() {
        use AluaState::*;
        let three: &[(u8, u16, &[u16])] = &[(0x00, 1, &[1]), (0x81, 2, &[2, 3]), (0x02, 3, &[])];
        for extended in [true, false] {
            let g = parse(&answer(extended, three)).unwrap();
            let got: Vec<_> = g
                .iter()
                .map(|g| (g.id, g.state, g.preferred, g.ports.clone()))
                .collect();
            assert_eq!(
                got,
                vec![
                    (1, Optimized, false, vec![1]),
                    (2, NonOptimized, true, vec![2, 3]),
                    (3, Standby, false, vec![]),
                ],
                "extended {extended}"
            );
        }
        // Every state code SPC-4 defines; a reserved one is an error.
        for (code, st) in [
            (3, Unavailable),
            (4, LbaDependent),
            (0xe, Offline),
            (0xf, Transitioning),
        ] {
            assert_eq!(
                parse(&answer(true, &[(code, 9, &[])])).unwrap()[0].state,
                st
            );
        }
        assert_eq!(
            parse(&answer(true, &[(0x5, 9, &[])])),
            Err(RtpgError::BadState { group: 9, code: 5 })
        );
    }

    #[test]
    fn truncated_and_malformed_answers() {
        let full = answer(true, &[(0x00, 1, &[1]), (0x01, 2, &[2])]);
        // Cut in the second descriptor: the first one stands.
        let cut = &full[..full.len() - 2];
        assert_eq!(parse(cut).unwrap().len(), 1);
        // Cut in the first: nothing usable.
        assert_eq!(parse(&full[..10]), Err(RtpgError::NoGroups));
        assert_eq!(parse(&full[..5]), Err(RtpgError::TooShort { len: 5 }));
        // A header claiming less than is there bounds the descriptors.
        let mut short = full.clone();
        short[3] = 4 + 12;
        assert_eq!(parse(&short).unwrap().len(), 1);
        // LIO's length leaves out the extended header's second word: its
        // last descriptor starts within it and still counts.
        let mut lio = full.clone();
        lio[3] -= 4;
        assert_eq!(parse(&lio).unwrap().len(), 2);
        // Zeros after the declared end (a buffer larger than the answer)
        // are not descriptors.
        let mut padded = full.clone();
        padded.extend_from_slice(&[0; 64]);
        assert_eq!(parse(&padded).unwrap().len(), 2);
        // A port count running past the end.
        let mut wild = full;
        wild[8 + 7] = 200;
        assert_eq!(parse(&wild), Err(RtpgError::NoGroups));
    }

    #[test]
    fn random_answers_never_panic() {
        let mut rng = crate::testrand::Rng::new(0xa3);
        for _ in 0..100_000 {
            let len = rng.below(80);
            let mut b: Vec<u8> = (0..len).map(|_| rng.byte()).collect();
            if b.len() > 8 && rng.below(2) == 0 {
                let l = (b.len() - 4) as u32;
                b[..4].copy_from_slice(&l.to_be_bytes());
            }
            if let Ok(groups) = parse(&b) {
                assert!(!groups.is_empty());
            }
        }
    }
}
