//! Undoing the escapes the kernel and udev put in names, and the one set
//! of bytes a map name or WWID may hold.

/// The bytes a map name or WWID may hold: libdevmapper's unmangled set
/// (and udev's), `[A-Za-z0-9#+.:=@_-]`. These names end up in /dev paths,
/// udev properties and shell variables of initramfs scripts: nothing here
/// is special to a shell, a path or a udev rule.
pub fn is_safe_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"#+-.:=@_".contains(&b)
}

pub fn is_safe(s: &str) -> bool {
    s.bytes().all(is_safe_byte)
}

/// For messages: what `is_safe` allows.
pub const SAFE_SET: &str = "letters, digits and # + - . : = @ _";

/// `a, b, c and 5 more`: a list for one log line, however long it is.
pub fn first_few(items: &[String], n: usize) -> String {
    let shown = items[..items.len().min(n)].join(", ");
    match items.len().saturating_sub(n) {
        0 => shown,
        more => format!("{shown} and {more} more"),
    }
}

/// Replace `<marker><digits>` (e.g. udev's `\x20`, mountinfo's `\040`)
/// with the byte those `digits` digits in `radix` stand for.
pub fn unescape(s: &str, marker: &str, digits: usize, radix: u32) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(marker.as_bytes()) {
            let at = i + marker.len();
            if let Some(v) = s
                .get(at..at + digits)
                .and_then(|d| u8::from_str_radix(d, radix).ok())
            {
                out.push(v);
                i = at + digits;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::{first_few, is_safe, unescape};

    #[test]
    fn safe_set_is_libdevmapper_s() {
        assert!(is_safe("3600a0b80-1Linux_scsi:x=y@z#+.-"));
        for bad in [
            "a b", "a$b", "a(b", "a'b", "a;b", "a`b", "a/b", "a|b", "a&b", "a\\b", "é",
        ] {
            assert!(!is_safe(bad), "{bad}");
        }
    }

    #[test]
    fn first_few_lists() {
        let v: Vec<String> = (0..6).map(|i| format!("sd{i}")).collect();
        assert_eq!(first_few(&v[..2], 4), "sd0, sd1");
        assert_eq!(first_few(&v, 4), "sd0, sd1, sd2, sd3 and 2 more");
        assert_eq!(first_few(&[], 4), "");
    }

    #[test]
    fn escapes() {
        assert_eq!(unescape("my\\x20root", "\\x", 2, 16), "my root");
        assert_eq!(unescape("/mnt/my\\040disk", "\\", 3, 8), "/mnt/my disk");
        assert_eq!(unescape("bad\\xZZ\\", "\\x", 2, 16), "bad\\xZZ\\");
        assert_eq!(unescape("é\\x41", "\\x", 2, 16), "éA");
    }
}
