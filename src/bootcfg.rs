//! What to assemble at boot: the kernel command line, multipath-tools'
//! own `wwids` and `bindings` files, and mpboot's `/etc/mpboot.conf`.
//! Pure parsers. Nothing here may stop a boot: what cannot be understood is
//! reported in `warnings` and ignored.

use std::time::Duration;

use crate::vpd::valid_wwid;

/// Why a WWID or name was refused, for warnings.
fn refused_why() -> String {
    format!(
        "WWIDs and names hold only {}; a map is never called \"control\"",
        crate::text::SAFE_SET
    )
}

pub const DEFAULT_WAIT: Duration = Duration::from_secs(30);
pub const DEFAULT_SETTLE: Duration = Duration::from_secs(2);
/// The default settle window for a LUN reached over iSCSI: initiators log
/// in portal by portal (dracut's `iscsi` module: SendTargets discovery,
/// login, SCSI scan, then the next portal), so its paths come seconds
/// apart where an HBA's come together.
pub const ISCSI_SETTLE: Duration = Duration::from_secs(5);

/// The `mpboot.*` (and related) kernel parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BootArgs {
    /// `mpboot=off` or dracut's `rd.multipath=0`.
    pub off: bool,
    pub wwids: Vec<String>,
    pub wait: Option<Duration>,
    pub settle: Option<Duration>,
    pub queue: Option<bool>,
    pub supervise: Option<bool>,
    /// `mpboot.debug`: per-path detail in the kernel log too.
    pub debug: bool,
    /// The last `root=`, as the kernel takes it.
    pub root: Option<String>,
    /// `mpboot.fast_io_fail=N|off`, `mpboot.dev_loss=N`.
    pub fast_io_fail: Option<Option<u32>>,
    pub dev_loss: Option<u32>,
    pub warnings: Vec<String>,
}

impl BootArgs {
    pub fn wait(&self) -> Duration {
        self.wait.unwrap_or(DEFAULT_WAIT)
    }
    /// The settle window for a LUN: `mpboot.settle=` when given, else
    /// `ISCSI_SETTLE` for an iSCSI LUN and `DEFAULT_SETTLE` otherwise.
    pub fn settle_for(&self, iscsi: bool) -> Duration {
        match self.settle {
            Some(s) => s,
            None if iscsi => ISCSI_SETTLE,
            None => DEFAULT_SETTLE,
        }
    }
}

/// Split a command line as the kernel does: on spaces, with double quotes
/// grouping (`root="LABEL=my root"`), the quotes themselves dropped.
fn words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in s.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            c => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        out.push(cur);
    }
    out
}

fn yes_no(v: &str) -> Option<bool> {
    match v {
        "yes" | "1" | "on" | "true" => Some(true),
        "no" | "0" | "off" | "false" => Some(false),
        _ => None,
    }
}

/// Most seconds we will wait for paths: a typo must not park a boot for days.
const WAIT_MAX: u64 = 3600;

pub fn parse_cmdline(line: &str) -> BootArgs {
    let mut a = BootArgs::default();
    for w in words(line) {
        let (key, val) = match w.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (w.as_str(), None),
        };
        let bad = |a: &mut BootArgs| a.warnings.push(format!("ignoring malformed {w:?}"));
        match (key, val) {
            ("root", Some(v)) => a.root = Some(v.to_string()),
            ("rd.multipath", Some("0")) => a.off = true,
            ("mpboot", Some("off" | "0" | "no")) => a.off = true,
            ("mpboot", Some("on" | "1" | "yes")) => {}
            ("mpboot.wwid", Some(v)) => {
                for id in v.split(',').filter(|s| !s.is_empty()) {
                    if valid_wwid(id) {
                        a.wwids.push(id.to_string());
                    } else {
                        a.warnings.push(format!(
                            "ignoring WWID {id:?} in mpboot.wwid: {}",
                            refused_why()
                        ));
                    }
                }
            }
            ("mpboot.wait", Some(v)) => match v.parse::<u64>() {
                Ok(s) if s <= WAIT_MAX => a.wait = Some(Duration::from_secs(s)),
                _ => bad(&mut a),
            },
            ("mpboot.settle", Some(v)) => match v.parse::<u64>() {
                Ok(ms) if ms <= WAIT_MAX * 1000 => a.settle = Some(Duration::from_millis(ms)),
                _ => bad(&mut a),
            },
            ("mpboot.queue", Some(v)) => match yes_no(v) {
                Some(b) => a.queue = Some(b),
                None => bad(&mut a),
            },
            ("mpboot.fast_io_fail", Some(v)) => match crate::transport::parse_fast_io_fail(v) {
                Ok(f) => a.fast_io_fail = Some(f),
                Err(_) => bad(&mut a),
            },
            ("mpboot.dev_loss", Some(v)) => match crate::transport::parse_dev_loss(v) {
                Ok(d) => a.dev_loss = Some(d),
                Err(_) => bad(&mut a),
            },
            ("mpboot.debug", None) => a.debug = true,
            ("mpboot.debug", Some(v)) => match yes_no(v) {
                Some(b) => a.debug = b,
                None => bad(&mut a),
            },
            ("mpboot.supervise", Some(v)) => match yes_no(v) {
                Some(b) => a.supervise = Some(b),
                None => bad(&mut a),
            },
            (k, _) if k == "mpboot" || k.starts_with("mpboot.") => {
                a.warnings.push(format!("ignoring unknown parameter {w:?}"))
            }
            _ => {}
        }
    }
    a
}

/// One multipath LUN the image was told about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownMap {
    pub wwid: String,
    /// Map name, when not the WWID (a multipath-tools binding or our alias).
    pub name: Option<String>,
    /// How many paths to wait for before assembling.
    pub paths: Option<u32>,
}

/// Everything the baked-in files say, merged: wwids, then bindings for
/// names, then mpboot.conf (which wins).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Known {
    pub maps: Vec<KnownMap>,
    /// mpboot.conf's `fast_io_fail_tmo=N|off` and `dev_loss_tmo=N` lines.
    pub fast_io_fail: Option<Option<u32>>,
    pub dev_loss: Option<u32>,
    pub warnings: Vec<String>,
}

impl Known {
    fn entry(&mut self, wwid: &str) -> &mut KnownMap {
        if let Some(i) = self.maps.iter().position(|m| m.wwid == wwid) {
            return &mut self.maps[i];
        }
        self.maps.push(KnownMap {
            wwid: wwid.to_string(),
            name: None,
            paths: None,
        });
        self.maps.last_mut().expect("just pushed")
    }

    pub fn get(&self, wwid: &str) -> Option<&KnownMap> {
        self.maps.iter().find(|m| m.wwid == wwid)
    }

    /// `/etc/multipath/wwids`: lines `/WWID/`.
    pub fn add_wwids(&mut self, file: &str, text: &str) {
        for (n, line) in content_lines(text, Comments::AfterSpace) {
            match line.strip_prefix('/').and_then(|l| l.strip_suffix('/')) {
                Some(w) if valid_wwid(w) => {
                    self.entry(w);
                }
                _ => self
                    .warnings
                    .push(format!("{file}:{n}: ignoring {line:?}: {}", refused_why())),
            }
        }
    }

    /// `/etc/multipath/bindings`: lines `alias WWID`. Names only; a binding
    /// alone does not ask for a map.
    pub fn add_bindings(&mut self, file: &str, text: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (n, line) in content_lines(text, Comments::Anywhere) {
            let f: Vec<&str> = line.split_whitespace().collect();
            match f[..] {
                [alias, w] if valid_wwid(w) && crate::dm::valid_name(alias) => {
                    out.push((w.to_string(), alias.to_string()))
                }
                [_, _] => self
                    .warnings
                    .push(format!("{file}:{n}: ignoring {line:?}: {}", refused_why())),
                _ => self.warnings.push(format!("{file}:{n}: ignoring {line:?}")),
            }
        }
        for (w, alias) in &out {
            if let Some(m) = self.maps.iter_mut().find(|m| m.wwid == *w) {
                m.name = Some(alias.clone());
            }
        }
        out
    }

    /// `/etc/mpboot.conf`: lines `WWID [name=ALIAS] [paths=N]`, and the
    /// transport settings `fast_io_fail_tmo=N|off`, `dev_loss_tmo=N`.
    pub fn add_mpboot_conf(&mut self, file: &str, text: &str) {
        for (n, line) in content_lines(text, Comments::AfterSpace) {
            let setting = match line.split_once('=') {
                Some(("fast_io_fail_tmo", v)) => Some(
                    crate::transport::parse_fast_io_fail(v.trim())
                        .map(|f| self.fast_io_fail = Some(f)),
                ),
                Some(("dev_loss_tmo", v)) => Some(
                    crate::transport::parse_dev_loss(v.trim()).map(|d| self.dev_loss = Some(d)),
                ),
                _ => None,
            };
            match setting {
                Some(Ok(())) => continue,
                Some(Err(e)) => {
                    self.warnings
                        .push(format!("{file}:{n}: ignoring {line:?}: {e}"));
                    continue;
                }
                None => {}
            }
            let mut f = line.split_whitespace();
            let Some(w) = f.next().filter(|w| valid_wwid(w)) else {
                self.warnings.push(format!(
                    "{file}:{n}: no WWID in {line:?} ({})",
                    refused_why()
                ));
                continue;
            };
            let (mut name, mut paths) = (None, None);
            let mut ok = true;
            for kv in f {
                match kv.split_once('=') {
                    Some(("name", v)) if crate::dm::valid_name(v) => name = Some(v.to_string()),
                    Some(("paths", v)) => match v.parse::<u32>() {
                        Ok(p) if (1..=64).contains(&p) => paths = Some(p),
                        _ => ok = false,
                    },
                    _ => ok = false,
                }
            }
            if !ok {
                self.warnings.push(format!(
                    "{file}:{n}: ignoring {line:?}: want name=ALIAS ({}) and paths=1..64",
                    refused_why()
                ));
                continue;
            }
            let e = self.entry(w);
            if name.is_some() {
                e.name = name;
            }
            if paths.is_some() {
                e.paths = paths;
            }
        }
    }
}

/// Where a `#` starts a comment.
#[derive(Clone, Copy)]
enum Comments {
    /// Anywhere: multipath-tools' bindings reader cuts every line at `#`,
    /// so an alias with a `#` cannot come from there.
    Anywhere,
    /// At the start of a line or after white space: `#` is a name and WWID
    /// byte (libdevmapper's and udev's set), so `name=db#1` stays `db#1`,
    /// and what `config --root` writes reads back the same.
    AfterSpace,
}

/// Numbered lines without comments and blanks.
fn content_lines(text: &str, comments: Comments) -> impl Iterator<Item = (usize, &str)> {
    text.lines().enumerate().filter_map(move |(i, l)| {
        let cut = match comments {
            Comments::Anywhere => l.find('#'),
            Comments::AfterSpace => l
                .char_indices()
                .find(|&(at, c)| c == '#' && (at == 0 || l[..at].ends_with(char::is_whitespace)))
                .map(|(at, _)| at),
        };
        let l = l[..cut.unwrap_or(l.len())].trim();
        (!l.is_empty()).then_some((i + 1, l))
    })
}

/// The mpboot.conf format, written by `mpboot config --root`.
pub fn format_mpboot_conf(maps: &[KnownMap]) -> String {
    let mut s = String::from(
        "# mpboot.conf: multipath LUNs the initramfs assembles before root.\n\
         # WWID [name=MAPNAME] [paths=EXPECTED]  (written by mpboot config --root)\n",
    );
    for m in maps {
        s.push_str(&m.wwid);
        if let Some(n) = &m.name {
            s.push_str(&format!(" name={n}"));
        }
        if let Some(p) = m.paths {
            s.push_str(&format!(" paths={p}"));
        }
        s.push('\n');
    }
    s
}

/// The transport timeouts in force: the kernel command line (when given)
/// over the command line's flags, over mpboot.conf, over multipathd's
/// defaults.
pub fn fast_fail(
    boot: Option<&BootArgs>,
    flag_fail: Option<Option<u32>>,
    flag_loss: Option<u32>,
    known: &Known,
) -> crate::transport::FastFail {
    let d = crate::transport::FastFail::default();
    let pick_fail = [
        boot.and_then(|b| b.fast_io_fail),
        flag_fail,
        known.fast_io_fail,
    ];
    let pick_loss = [boot.and_then(|b| b.dev_loss), flag_loss, known.dev_loss];
    crate::transport::FastFail {
        fast_io_fail: pick_fail
            .into_iter()
            .flatten()
            .next()
            .unwrap_or(d.fast_io_fail),
        dev_loss: pick_loss.into_iter().flatten().next().unwrap_or(d.dev_loss),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmdline_table() {
        let a = parse_cmdline(
            "BOOT_IMAGE=/vmlinuz root=\"PARTUUID=1234-01\" ro mpboot.wwid=36001405aa,1Linux_x \
             mpboot.wwid=3600b mpboot.wait=10 mpboot.settle=500 mpboot.queue=no mpboot.supervise=yes quiet\n",
        );
        assert_eq!(a.root.as_deref(), Some("PARTUUID=1234-01"));
        assert_eq!(a.wwids, vec!["36001405aa", "1Linux_x", "3600b"]);
        assert_eq!(a.wait(), Duration::from_secs(10));
        assert_eq!(a.settle_for(false), Duration::from_millis(500));
        assert_eq!((a.queue, a.supervise), (Some(false), Some(true)));
        assert!(!a.off && a.warnings.is_empty(), "{:?}", a.warnings);
        assert!(parse_cmdline("rd.multipath=0").off);
        assert!(parse_cmdline("mpboot=off").off);
        assert!(!parse_cmdline("rd.multipath=default").off);
        let d = parse_cmdline("");
        assert_eq!(d.wait(), DEFAULT_WAIT);
        assert_eq!(
            (d.settle_for(false), d.settle_for(true)),
            (DEFAULT_SETTLE, ISCSI_SETTLE)
        );
        // Given on the command line, it holds for every transport.
        let a = parse_cmdline("mpboot.settle=700");
        assert_eq!(a.settle_for(true), Duration::from_millis(700));
        assert_eq!(
            parse_cmdline("root=/dev/sda1 root=LABEL=x").root.as_deref(),
            Some("LABEL=x")
        );
        assert_eq!(
            parse_cmdline("root=\"LABEL=my root\"").root.as_deref(),
            Some("LABEL=my root")
        );
    }

    #[test]
    fn hostile_cmdline_is_reported_and_ignored() {
        let a = parse_cmdline(
            "mpboot.wait=-1 mpboot.wait=99999999999999999999 mpboot.settle=x mpboot.queue=maybe \
             mpboot.frob=1 mpboot.wwid=a/b,,\u{1} mpboot=sideways mpboot.wait \"unterminated",
        );
        assert_eq!(a.wait, None);
        assert_eq!(a.settle, None);
        assert_eq!(a.queue, None);
        assert!(a.wwids.is_empty());
        assert!(!a.off);
        assert_eq!(a.warnings.len(), 9, "{:#?}", a.warnings);
        assert!(a.warnings.iter().any(|w| w.contains("mpboot.frob")));
    }

    #[test]
    fn files_merge() {
        let mut k = Known::default();
        k.add_wwids(
            "wwids",
            "# Multipath wwids, Version : 1.0\n/36001405aa/\n/1Linux_scsi_debug_2000/\nbogus\n",
        );
        let b = k.add_bindings(
            "bindings",
            "# bindings\nmpatha 36001405aa\nmpathz 3other\nbad line here\n",
        );
        assert_eq!(b.len(), 2);
        k.add_mpboot_conf(
            "mpboot.conf",
            "1Linux_scsi_debug_2000 name=rootdisk paths=4 # root\n3new paths=2\n3bad paths=0\nx/y\n",
        );
        assert_eq!(
            k.maps,
            vec![
                KnownMap {
                    wwid: "36001405aa".into(),
                    name: Some("mpatha".into()),
                    paths: None
                },
                KnownMap {
                    wwid: "1Linux_scsi_debug_2000".into(),
                    name: Some("rootdisk".into()),
                    paths: Some(4)
                },
                KnownMap {
                    wwid: "3new".into(),
                    name: None,
                    paths: Some(2)
                },
            ]
        );
        assert_eq!(k.warnings.len(), 4, "{:#?}", k.warnings);
        assert!(k.warnings[0].starts_with("wwids:4:"));
        // What config --root writes reads back the same.
        let mut again = Known::default();
        again.add_mpboot_conf("c", &format_mpboot_conf(&k.maps));
        assert_eq!(again.maps, k.maps);
        assert!(again.warnings.is_empty());
    }

    /// Names and WWIDs reach /dev paths and initramfs shell variables: a
    /// byte outside libdevmapper's set, or the name "control", is refused
    /// with a message saying what is allowed.
    #[test]
    fn unsafe_names_and_wwids_are_refused() {
        let a = parse_cmdline("mpboot.wwid=3600a$(reboot),3600b,1X(1)");
        assert_eq!(a.wwids, vec!["3600b".to_string()]);
        assert_eq!(a.warnings.len(), 2, "{:#?}", a.warnings);
        assert!(a.warnings[0].contains("only letters, digits"));
        let mut k = Known::default();
        k.add_wwids("wwids", "/3600a;reboot/\n/3600c/\n");
        let b = k.add_bindings(
            "bindings",
            "db(1) 3600c\ncontrol 3600c\nx`id` 3600c\nok_1 3600c\n",
        );
        assert_eq!(b, vec![("3600c".to_string(), "ok_1".to_string())]);
        k.add_mpboot_conf(
            "mpboot.conf",
            "3600c name=r'x\n3600d name=control\n3600$e\n",
        );
        assert_eq!(k.maps.len(), 1, "{:#?}", k.maps);
        assert_eq!(k.maps[0].name.as_deref(), Some("ok_1"));
        assert_eq!(k.warnings.len(), 7, "{:#?}", k.warnings);
        assert!(k
            .warnings
            .iter()
            .all(|w| w.contains("only letters, digits")));
        for bad in ["control", "db(1)", "a b", "a$b", "", "..", "a/b"] {
            assert!(!crate::dm::valid_name(bad), "{bad}");
        }
        assert!(crate::dm::valid_name("mpath-a_1:2@x#y+z=w.v"));
    }

    /// `#` is a name byte: in mpboot.conf and wwids a comment starts a
    /// line or follows white space, so `name=db#1` and what `config
    /// --root` writes with it read back whole. multipath-tools' bindings
    /// reader cuts at any `#`, and so does ours.
    #[test]
    fn a_hash_in_a_name_is_not_a_comment() {
        let mut k = Known::default();
        k.add_mpboot_conf(
            "c",
            "3600a name=db#1 paths=2 # root\n#3600b\n3600c#x # note\n",
        );
        k.add_wwids("w", "/3600d#2/ # kept\n# /3600e/\n");
        let b = k.add_bindings("b", "mpathz 3600f#tail\nfoo#1 3600f\n");
        let got: Vec<(&str, Option<&str>)> = k
            .maps
            .iter()
            .map(|m| (m.wwid.as_str(), m.name.as_deref()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("3600a", Some("db#1")),
                ("3600c#x", None),
                ("3600d#2", None)
            ]
        );
        assert_eq!(k.maps[0].paths, Some(2));
        assert_eq!(b, vec![("3600f".to_string(), "mpathz".to_string())]);
        let mut again = Known::default();
        again.add_mpboot_conf("c", &format_mpboot_conf(&k.maps));
        assert_eq!(again.maps, k.maps);
    }

    #[test]
    fn random_input_never_panics() {
        let alphabet: Vec<char> = "mpboot.wwid=wait=settle,root\"/ 0123 #\nname=paths=\u{e9}\t"
            .chars()
            .collect();
        let mut rng = crate::testrand::Rng::new(0xc0de);
        for _ in 0..30_000 {
            let s: String = (0..rng.below(80))
                .map(|_| alphabet[rng.below(alphabet.len())])
                .collect();
            let _ = parse_cmdline(&s);
            let mut k = Known::default();
            k.add_wwids("w", &s);
            k.add_bindings("b", &s);
            k.add_mpboot_conf("c", &s);
        }
    }
}
