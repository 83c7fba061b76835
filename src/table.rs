//! The `multipath` target's table and status lines.
//!
//! Table (what we load, and what `DM_TABLE_STATUS` gives back):
//! `<#feat> <feat>… <#hw> <hw>… <#groups> <initial> {<selector> <#sel args>
//! <sel args>… <#paths> <#path args> {<dev> <path args>…}…}…`
//!
//! Status: `<#feat> <feat>… <#hw> <hw>… <#groups> <next> {<A|E|D>
//! <#sel status> <sel status>… <#paths> <#path status> {<dev> <A|F>
//! <fail count> <path status>…}…}…`

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TablePath {
    pub dev: String,
    pub args: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathGroup {
    pub selector: String,
    pub selector_args: Vec<String>,
    pub paths: Vec<TablePath>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultipathTable {
    pub features: Vec<String>,
    /// Empty, or the handler name and its arguments.
    pub hw_handler: Vec<String>,
    pub initial_group: u32,
    pub groups: Vec<PathGroup>,
}

/// Tokens with counted lists, failing with a message instead of panicking.
struct Tokens<'a> {
    it: std::str::SplitAsciiWhitespace<'a>,
}

impl<'a> Tokens<'a> {
    fn new(s: &'a str) -> Self {
        Tokens {
            it: s.split_ascii_whitespace(),
        }
    }

    fn word(&mut self, what: &str) -> Result<&'a str, String> {
        self.it.next().ok_or_else(|| format!("missing {what}"))
    }

    fn num(&mut self, what: &str) -> Result<usize, String> {
        let w = self.word(what)?;
        let n: usize = w
            .parse()
            .map_err(|_| format!("{what}: {w:?} is not a count"))?;
        // No honest table counts more than this; stop hostile input early.
        if n > 4096 {
            return Err(format!("{what}: {n} is implausible"));
        }
        Ok(n)
    }

    fn list(&mut self, n: usize, what: &str) -> Result<Vec<String>, String> {
        (0..n).map(|_| self.word(what).map(String::from)).collect()
    }

    fn counted(&mut self, what: &str) -> Result<Vec<String>, String> {
        let n = self.num(what)?;
        self.list(n, what)
    }

    fn end(mut self) -> Result<(), String> {
        match self.it.next() {
            None => Ok(()),
            Some(w) => Err(format!("trailing {w:?}")),
        }
    }
}

fn join_counted(f: &mut fmt::Formatter<'_>, v: &[String]) -> fmt::Result {
    write!(f, "{}", v.len())?;
    for w in v {
        write!(f, " {w}")?;
    }
    Ok(())
}

impl fmt::Display for MultipathTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        join_counted(f, &self.features)?;
        write!(f, " ")?;
        join_counted(f, &self.hw_handler)?;
        write!(f, " {} {}", self.groups.len(), self.initial_group)?;
        for g in &self.groups {
            write!(f, " {} ", g.selector)?;
            join_counted(f, &g.selector_args)?;
            let nargs = g.paths.first().map_or(0, |p| p.args.len());
            write!(f, " {} {nargs}", g.paths.len())?;
            for p in &g.paths {
                write!(f, " {}", p.dev)?;
                for a in &p.args {
                    write!(f, " {a}")?;
                }
            }
        }
        Ok(())
    }
}

impl FromStr for MultipathTable {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut t = Tokens::new(s);
        let features = t.counted("features")?;
        let hw_handler = t.counted("hardware handler")?;
        let ngroups = t.num("group count")?;
        let initial_group = t.num("initial group")? as u32;
        let mut groups = Vec::with_capacity(ngroups);
        for _ in 0..ngroups {
            let selector = t.word("path selector")?.to_string();
            let selector_args = t.counted("selector args")?;
            let npaths = t.num("path count")?;
            let nargs = t.num("path arg count")?;
            let mut paths = Vec::with_capacity(npaths);
            for _ in 0..npaths {
                let dev = t.word("path device")?.to_string();
                let args = t.list(nargs, "path args")?;
                paths.push(TablePath { dev, args });
            }
            groups.push(PathGroup {
                selector,
                selector_args,
                paths,
            });
        }
        t.end()?;
        if initial_group as usize > groups.len() {
            return Err(format!("initial group {initial_group} out of range"));
        }
        Ok(MultipathTable {
            features,
            hw_handler,
            initial_group,
            groups,
        })
    }
}

impl MultipathTable {
    /// The path devices, group by group.
    pub fn groups_devices(&self) -> Vec<Vec<String>> {
        self.groups
            .iter()
            .map(|g| g.paths.iter().map(|p| p.dev.clone()).collect())
            .collect()
    }

    /// Every path device.
    pub fn devices(&self) -> Vec<String> {
        self.groups_devices().into_iter().flatten().collect()
    }

    /// Same map in every way that matters for I/O: features (ignoring the
    /// ones the kernel adds on its own), handler, selectors, and the paths
    /// in each group in order. Path and selector arguments are not compared:
    /// the kernel reads them back padded (service-time gives two per path).
    pub fn same_layout(&self, other: &MultipathTable) -> bool {
        fn feats(t: &MultipathTable) -> Vec<&str> {
            let mut v: Vec<&str> = t
                .features
                .iter()
                .map(String::as_str)
                .filter(|f| *f != "retain_attached_hw_handler")
                .collect();
            v.sort_unstable();
            v
        }
        fn groups(t: &MultipathTable) -> Vec<(&str, Vec<&str>)> {
            t.groups
                .iter()
                .map(|g| {
                    (
                        g.selector.as_str(),
                        g.paths.iter().map(|p| p.dev.as_str()).collect(),
                    )
                })
                .collect()
        }
        feats(self) == feats(other)
            && self.hw_handler.first() == other.hw_handler.first()
            && groups(self) == groups(other)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathStatus {
    pub dev: String,
    pub active: bool,
    pub fail_count: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    Active,
    Enabled,
    Disabled,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupStatus {
    pub state: GroupState,
    pub paths: Vec<PathStatus>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultipathStatus {
    /// `queue_io pg_init_count` on current kernels.
    pub features: Vec<String>,
    pub next_group: u32,
    pub groups: Vec<GroupStatus>,
}

impl MultipathStatus {
    /// The first path group with a path the kernel has not failed: where
    /// I/O should run. None: every path is down.
    pub fn first_usable_group(&self) -> Option<usize> {
        self.groups
            .iter()
            .position(|g| g.paths.iter().any(|p| p.active))
    }
}

impl FromStr for MultipathStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut t = Tokens::new(s);
        let features = t.counted("features")?;
        t.counted("hardware handler")?;
        let ngroups = t.num("group count")?;
        let next_group = t.num("next group")? as u32;
        let mut groups = Vec::with_capacity(ngroups);
        for _ in 0..ngroups {
            let state = match t.word("group state")? {
                "A" => GroupState::Active,
                "E" => GroupState::Enabled,
                "D" => GroupState::Disabled,
                w => return Err(format!("group state {w:?}")),
            };
            t.counted("selector status")?;
            let npaths = t.num("path count")?;
            let nstatus = t.num("path status count")?;
            let mut paths = Vec::with_capacity(npaths);
            for _ in 0..npaths {
                let dev = t.word("path device")?.to_string();
                let active = match t.word("path state")? {
                    "A" => true,
                    "F" => false,
                    w => return Err(format!("path state {w:?}")),
                };
                let fc = t.word("fail count")?;
                let fail_count = fc
                    .parse()
                    .map_err(|_| format!("fail count {fc:?} is not a number"))?;
                t.list(nstatus, "path status")?;
                paths.push(PathStatus {
                    dev,
                    active,
                    fail_count,
                });
            }
            groups.push(GroupStatus { state, paths });
        }
        t.end()?;
        Ok(MultipathStatus {
            features,
            next_group,
            groups,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Lines as Debian 6.1's dm-multipath prints them (`dmsetup table/status`).
    const LOADED: &str =
        "0 1 alua 3 1 service-time 0 1 1 8:0 1 service-time 0 1 1 8:16 1 service-time 0 1 1 8:32 1";
    const READ_BACK: &str = "0 1 alua 3 1 service-time 0 1 2 8:0 1 1 service-time 0 1 2 8:16 1 1 service-time 0 1 2 8:32 1 1";
    const STATUS: &str =
        "2 0 0 0 3 1 A 0 1 2 8:0 A 0 0 1 E 0 1 2 8:16 A 0 0 1 E 0 1 2 8:32 F 1 0 1";

    #[test]
    fn table_round_trip() {
        let t: MultipathTable = LOADED.parse().unwrap();
        assert_eq!(t.to_string(), LOADED);
        assert_eq!(t.groups.len(), 3);
        assert_eq!(t.hw_handler, vec!["alua"]);
        let q: MultipathTable = "1 queue_if_no_path 0 1 1 round-robin 0 2 1 8:0 1 8:16 1"
            .parse()
            .unwrap();
        assert_eq!(q.features, vec!["queue_if_no_path"]);
        assert_eq!(
            q.to_string(),
            "1 queue_if_no_path 0 1 1 round-robin 0 2 1 8:0 1 8:16 1"
        );
    }

    #[test]
    fn read_back_has_same_layout() {
        let a: MultipathTable = LOADED.parse().unwrap();
        let b: MultipathTable = READ_BACK.parse().unwrap();
        assert_ne!(a, b);
        assert!(a.same_layout(&b));
        let mut c = b.clone();
        c.groups.swap(0, 1);
        assert!(!a.same_layout(&c));
        let d: MultipathTable = "1 retain_attached_hw_handler 1 alua 3 1 service-time 0 1 2 8:0 1 1 service-time 0 1 2 8:16 1 1 service-time 0 1 2 8:32 1 1".parse().unwrap();
        assert!(a.same_layout(&d));
        let e: MultipathTable = "1 queue_if_no_path 1 alua 3 1 service-time 0 1 2 8:0 1 1 service-time 0 1 2 8:16 1 1 service-time 0 1 2 8:32 1 1".parse().unwrap();
        assert!(!a.same_layout(&e));
    }

    #[test]
    fn status_parses() {
        let s: MultipathStatus = STATUS.parse().unwrap();
        assert_eq!(s.features, vec!["0", "0"]);
        assert_eq!(s.next_group, 1);
        assert_eq!(s.groups[0].state, GroupState::Active);
        assert_eq!(s.groups[2].paths[0].dev, "8:32");
        assert!(!s.groups[2].paths[0].active);
        assert_eq!(s.groups[2].paths[0].fail_count, 1);
        assert_eq!(s.first_usable_group(), Some(0));
        let mut down = s.clone();
        for g in &mut down.groups {
            for p in &mut g.paths {
                p.active = false;
            }
        }
        assert_eq!(down.first_usable_group(), None);
        down.groups[1].paths[0].active = true;
        assert_eq!(down.first_usable_group(), Some(1));
    }

    #[test]
    fn malformed_lines_are_errors() {
        for bad in [
            "",
            "1",
            "0 0 1 1 service-time 0 1 1 8:0",
            "0 0 2 1 service-time 0 1 1 8:0 1",
            "0 0 1 5 service-time 0 1 1 8:0 1",
            "0 0 1 1 service-time 0 1 1 8:0 1 extra",
            "x 0 0 0",
            "99999999999 0",
        ] {
            assert!(bad.parse::<MultipathTable>().is_err(), "{bad:?}");
        }
        for bad in [
            "",
            "2 0 0 0 1 1 X 0 1 2 8:0 A 0 0 1",
            "2 0 0 0 1 1 A 0 1 2 8:0 Q 0 0 1",
        ] {
            assert!(bad.parse::<MultipathStatus>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn random_lines_never_panic() {
        let words = [
            "0",
            "1",
            "2",
            "3",
            "A",
            "E",
            "F",
            "8:0",
            "service-time",
            "alua",
            "9999",
        ];
        let mut rng = crate::testrand::Rng::new(7);
        for _ in 0..50_000 {
            let n = rng.below(30);
            let line: Vec<&str> = (0..n).map(|_| words[rng.below(words.len())]).collect();
            let line = line.join(" ");
            if let Ok(t) = line.parse::<MultipathTable>() {
                // Whatever parses must print back to something with the same layout.
                let again: MultipathTable = t.to_string().parse().unwrap();
                assert!(again.same_layout(&t), "{line}");
            }
            let _ = line.parse::<MultipathStatus>();
        }
    }
}
