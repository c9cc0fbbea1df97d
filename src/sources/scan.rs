//! A strict, allocation-light JSON reader for the record shapes read on every request
//! (Celigo lists, Rocket.Chat pages): members are matched by their key as the text is read,
//! strings without escapes are borrowed, and what no field needs is skipped without building
//! anything. It is the fast path only. Anything it does not read exactly as `serde_json` with
//! the wire structs' `Deserialize` would (escapes in keys aside, which it decodes the same way)
//! makes it give up with `None`, and the caller reads the body again with `serde_json`, which
//! decides, and words the errors. So it never accepts what `serde_json` refuses: it checks the
//! whole text (structure, numbers, literals, string escapes, control characters, nesting depth,
//! trailing bytes), and a known member met twice, a type other than the expected one, or a
//! missing required member are a fallback, not a value.
//!
//! Rare shapes of a field (an EJSON date object, an error object) are read by `serde_json`
//! from that value's own text ([`Scanner::serde`]), so their meaning stays defined in one place.

use compact_str::CompactString;
use serde::de::DeserializeOwned;
use std::borrow::Cow;

/// `serde_json`'s nesting limit: deeper text is refused there, so it is a fallback here.
const MAX_DEPTH: u32 = 128;

/// A position in a JSON text being read.
pub struct Scanner<'a> {
    text: &'a str,
    at: usize,
    depth: u32,
    /// The deepest nesting entered so far.
    deepest: u32,
}

/// Something the fast path reads from its own place in the text.
pub trait Scan: Sized {
    /// The value at the scanner's position, or `None` to fall back to `serde_json`.
    fn scan(s: &mut Scanner<'_>) -> Option<Self>;
}

/// A whole body that is a JSON array of `T`: every element, or `None` to fall back.
pub fn list<T: Scan>(text: &str) -> Option<Vec<T>> {
    list_map(text, |_, item| item)
}

/// A whole body that is a JSON array of `W`, each element mapped by `map(index, element)` as
/// soon as it is read (no list of wire structs in between), or `None` to fall back. `map`
/// should have no effect beyond its result: on a fallback, what it made is dropped.
pub fn list_map<W: Scan, T>(text: &str, mut map: impl FnMut(usize, W) -> T) -> Option<Vec<T>> {
    let mut s = Scanner::new(text);
    // Sized for records of a few hundred bytes (Celigo's are 300-500): a page's list is
    // rarely grown, and a guess too large only lasts until the page is mapped.
    let mut items = Vec::with_capacity((text.len() / 256).clamp(1, 1024));
    s.array(|s| {
        let item = W::scan(s)?;
        items.push(map(items.len(), item));
        Some(())
    })?;
    s.end()?;
    Some(items)
}

/// A string written with escapes, decoded by `serde_json` exactly as a `String` field is.
pub fn unescape(written: &str) -> Option<String> {
    serde_json::from_str(&format!("\"{written}\"")).ok()
}

/// Put a member's value in its slot, once: a known member met twice is refused by the
/// derived `Deserialize` impls, so it is a fallback.
pub fn once<T>(slot: &mut Option<T>, value: T) -> Option<()> {
    if slot.is_some() {
        return None;
    }
    *slot = Some(value);
    Some(())
}

/// `impl Scan` for a struct read member by member, as its derived `Deserialize` reads it:
/// each `"key" => field: kind(read())` puts what `scanner.read()` reads into `field`, once (a
/// member met twice gives up); other members are skipped. `kind` says what a missing member
/// is: `opt` none (the reader reads an `Option`), `req` a fallback.
macro_rules! scan_object {
    ($ty:ident { $($key:literal => $field:ident : $kind:ident ( $($read:tt)+ )),* $(,)? }) => {
        impl $crate::sources::scan::Scan for $ty {
            fn scan(s: &mut $crate::sources::scan::Scanner<'_>) -> Option<Self> {
                $(let mut $field = None;)*
                s.object(|s, key| match key {
                    $($key => $crate::sources::scan::once(&mut $field, s.$($read)+?),)*
                    _ => s.skip(),
                })?;
                Some($ty { $($field: scan_object!(@missing $kind $field),)* })
            }
        }
    };
    (@missing opt $field:ident) => { $field.flatten() };
    (@missing req $field:ident) => { $field? };
}
pub(crate) use scan_object;

const ONES: u64 = u64::MAX / 255;

/// Bit 7 set in the lowest byte of `chunk` that is a quote, a backslash or a control
/// character (and maybe in higher ones: only the lowest set one is exact).
fn special(chunk: u64) -> u64 {
    let control = chunk.wrapping_sub(ONES * 0x20) & !chunk;
    let quote = chunk ^ (ONES * u64::from(b'"'));
    let quote = quote.wrapping_sub(ONES) & !quote;
    let backslash = chunk ^ (ONES * u64::from(b'\\'));
    let backslash = backslash.wrapping_sub(ONES) & !backslash;
    (control | quote | backslash) & (ONES << 7)
}

impl<'a> Scanner<'a> {
    pub fn new(text: &'a str) -> Self {
        Scanner {
            text,
            at: 0,
            depth: 0,
            deepest: 0,
        }
    }

    #[inline]
    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    /// The next byte after whitespace, not consumed.
    #[inline]
    pub fn peek(&mut self) -> Option<u8> {
        let bytes = self.bytes();
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = bytes.get(self.at) {
            self.at += 1;
        }
        bytes.get(self.at).copied()
    }

    #[inline]
    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.at += 1)
    }

    /// Only whitespace is left.
    pub fn end(&mut self) -> Option<()> {
        self.peek().is_none().then_some(())
    }

    /// Past a string whose opening quote was just read; whether it holds escapes.
    #[inline]
    fn string_rest(&mut self) -> Option<bool> {
        let bytes = self.bytes();
        let mut i = self.at;
        let mut escaped = false;
        loop {
            while let Some(chunk) = bytes.get(i..i + 8) {
                let found = special(u64::from_le_bytes(chunk.try_into().ok()?));
                if found != 0 {
                    i += (found.trailing_zeros() / 8) as usize;
                    break;
                }
                i += 8;
            }
            match *bytes.get(i)? {
                b'"' => {
                    self.at = i + 1;
                    return Some(escaped);
                }
                b'\\' => {
                    escaped = true;
                    match *bytes.get(i + 1)? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => i += 2,
                        b'u' => {
                            let hex = bytes.get(i + 2..i + 6)?;
                            if !hex.iter().all(u8::is_ascii_hexdigit) {
                                return None;
                            }
                            i += 6;
                        }
                        _ => return None,
                    }
                }
                byte if byte < 0x20 => return None,
                _ => i += 1,
            }
        }
    }

    /// A string: borrowed from the text unless it holds escapes (then decoded by
    /// `serde_json`, exactly as a `String` field is).
    #[inline]
    pub fn str(&mut self) -> Option<Cow<'a, str>> {
        match self.str_escaped()? {
            (written, true) => unescape(written).map(Cow::Owned),
            (written, false) => Some(Cow::Borrowed(written)),
        }
    }

    /// A string as it is written between its quotes, escapes undecoded.
    pub fn str_escaped(&mut self) -> Option<(&'a str, bool)> {
        self.eat(b'"')?;
        let start = self.at;
        let escaped = self.string_rest()?;
        Some((self.text.get(start..self.at - 1)?, escaped))
    }

    /// A `String` member.
    pub fn string(&mut self) -> Option<String> {
        self.str().map(Cow::into_owned)
    }

    /// A `CompactString` member: short strings (ids, names) are kept inline, without an
    /// allocation.
    #[inline]
    pub fn compact(&mut self) -> Option<CompactString> {
        self.str().map(|text| match text {
            Cow::Borrowed(text) => CompactString::new(text),
            Cow::Owned(text) => CompactString::from(text),
        })
    }

    /// An `Option<CompactString>` member.
    #[inline]
    pub fn opt_compact(&mut self) -> Option<Option<CompactString>> {
        match self.peek()? {
            b'"' => self.compact().map(Some),
            b'n' => self.literal(b"null").map(|()| None),
            _ => None,
        }
    }

    /// `null` (consumed) or not.
    #[inline]
    pub fn null(&mut self) -> Option<bool> {
        if self.peek()? == b'n' {
            self.literal(b"null")?;
            return Some(true);
        }
        Some(false)
    }

    /// An `Option<String>` member.
    #[inline]
    pub fn opt_string(&mut self) -> Option<Option<String>> {
        match self.peek()? {
            b'"' => self.string().map(Some),
            b'n' => self.literal(b"null").map(|()| None),
            _ => None,
        }
    }

    /// An `Option<bool>` member.
    pub fn opt_bool(&mut self) -> Option<Option<bool>> {
        match self.peek()? {
            b'n' => self.literal(b"null").map(|()| None),
            b't' => self.literal(b"true").map(|()| Some(true)),
            b'f' => self.literal(b"false").map(|()| Some(false)),
            _ => None,
        }
    }

    /// An `Option<T>` member of a type the fast path reads.
    pub fn opt<T: Scan>(&mut self) -> Option<Option<T>> {
        if self.null()? {
            return Some(None);
        }
        T::scan(self).map(Some)
    }

    /// A `Vec<T>` member (`null` is refused, as by `serde`).
    pub fn vec<T: Scan>(&mut self) -> Option<Vec<T>> {
        let mut items = Vec::new();
        self.array(|s| {
            items.push(T::scan(s)?);
            Some(())
        })?;
        Some(items)
    }

    /// The next value, read by `serde_json` from its own text: for the shapes of a field the
    /// fast path leaves to serde. The whole text is still checked here first.
    pub fn serde<T: DeserializeOwned>(&mut self) -> Option<T> {
        self.peek()?;
        let start = self.at;
        self.deepest = self.depth;
        self.skip()?;
        // serde_json would count the value's depth from where it sits: anything near its
        // limit is left to the whole-text reading.
        if self.deepest > MAX_DEPTH / 2 {
            return None;
        }
        serde_json::from_str(self.text.get(start..self.at)?).ok()
    }

    #[inline]
    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.at + word.len();
        (self.bytes().get(self.at..end)? == word).then(|| self.at = end)
    }

    fn digits(&mut self) -> usize {
        let bytes = self.bytes();
        let start = self.at;
        while let Some(b'0'..=b'9') = bytes.get(self.at) {
            self.at += 1;
        }
        self.at - start
    }

    /// A number, by JSON's grammar.
    fn number(&mut self) -> Option<()> {
        if self.bytes().get(self.at) == Some(&b'-') {
            self.at += 1;
        }
        match self.bytes().get(self.at)? {
            b'0' => self.at += 1,
            b'1'..=b'9' => {
                self.digits();
            }
            _ => return None,
        }
        if self.bytes().get(self.at) == Some(&b'.') {
            self.at += 1;
            (self.digits() > 0).then_some(())?;
        }
        if let Some(b'e' | b'E') = self.bytes().get(self.at) {
            self.at += 1;
            if let Some(b'+' | b'-') = self.bytes().get(self.at) {
                self.at += 1;
            }
            (self.digits() > 0).then_some(())?;
        }
        Some(())
    }

    fn enter(&mut self) -> Option<()> {
        self.depth += 1;
        self.deepest = self.deepest.max(self.depth);
        (self.depth <= MAX_DEPTH).then_some(())
    }

    /// The items of an array or the members of an object, after its opening bracket: `item`
    /// reads one, separators and the closing bracket are checked here.
    fn items(&mut self, close: u8, mut item: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.enter()?;
        if self.peek()? == close {
            self.at += 1;
        } else {
            loop {
                item(self)?;
                match self.peek()? {
                    b',' => self.at += 1,
                    byte if byte == close => {
                        self.at += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        self.depth -= 1;
        Some(())
    }

    /// Each element of an array, read by `element`.
    pub fn array(&mut self, element: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.eat(b'[')?;
        self.items(b']', element)
    }

    /// Each member of an object, in order: `member(scanner, key)` reads the value.
    pub fn object(&mut self, mut member: impl FnMut(&mut Self, &str) -> Option<()>) -> Option<()> {
        self.eat(b'{')?;
        self.items(b'}', |s| {
            let key = s.str()?;
            s.eat(b':')?;
            member(s, &key)
        })
    }

    /// Past the next value, checking it as `serde_json` does when it ignores one.
    pub fn skip(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => {
                self.at += 1;
                self.string_rest().map(drop)
            }
            b'{' => {
                self.at += 1;
                // Keys are checked, never decoded.
                self.items(b'}', |s| {
                    s.str_escaped()?;
                    s.eat(b':')?;
                    s.skip()
                })
            }
            b'[' => self.array(Self::skip),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skips(text: &str) -> bool {
        let mut s = Scanner::new(text);
        s.skip().and_then(|()| s.end()).is_some()
    }

    #[test]
    fn skipping_accepts_exactly_what_serde_json_accepts() {
        let cases = [
            r#"{"a": [1, -2.5e+3, 0, true, false, null, "x\"y\\u00e9\n"], "b": {}}"#,
            "[]",
            " [ 1 , {\"k\" : [ ] } ] ",
            "\"a long string with no escapes at all, longer than eight bytes\"",
            r#""\ud800""#,
            "-0.0e-0",
            // Refused by serde_json, so by the scanner too.
            "01",
            "1.",
            "-",
            "1e",
            ".5",
            "[1,]",
            "{\"a\":1,}",
            "{\"a\" 1}",
            "{a:1}",
            "[1 2]",
            "tru",
            "nul",
            "\"\\x\"",
            "\"\\u12g4\"",
            "\"tab\tinside\"",
            "\"unterminated",
            "[1] x",
            "{\"a\":1}}",
            "",
            "'single'",
        ];
        for text in cases {
            let serde = serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok();
            assert_eq!(skips(text), serde, "{text:?}");
        }
        // Deeper than serde_json reads into values: left to it (it ignores deeper text, and
        // refuses it where a value is built).
        let deep = format!("{}{}", "[".repeat(129), "]".repeat(129));
        assert!(!skips(&deep));
        let fine = format!("{}{}", "[".repeat(128), "]".repeat(128));
        assert!(skips(&fine));
        // A value read by serde_json from its own text starts at depth 0 there: deep ones are
        // left to the whole-text reading, which counts the depth they sit at.
        let nested = format!("[{}1{}]", "[".repeat(100), "]".repeat(100));
        let mut s = Scanner::new(&nested);
        assert!(s
            .array(|s| s.serde::<serde_json::Value>().map(drop))
            .is_none());
        let shallow = format!("[{}1{}]", "[".repeat(20), "]".repeat(20));
        let mut s = Scanner::new(&shallow);
        assert!(s
            .array(|s| s.serde::<serde_json::Value>().map(drop))
            .is_some());
    }

    #[test]
    fn strings_are_borrowed_unless_escaped() {
        let mut s = Scanner::new(r#"["plain", "caf\u00e9 \"q\"", null, 5]"#);
        let mut got = Vec::new();
        s.array(|s| {
            got.push(match s.peek()? {
                b'"' => s
                    .str()
                    .map(|c| (matches!(c, Cow::Borrowed(_)), c.into_owned()))?,
                _ => {
                    s.skip()?;
                    (true, String::new())
                }
            });
            Some(())
        })
        .expect("array");
        assert_eq!(got[0], (true, "plain".to_string()));
        assert_eq!(got[1], (false, "café \"q\"".to_string()));
    }

    #[test]
    fn a_special_byte_is_found_in_any_place_of_a_chunk() {
        for at in 0..20 {
            for special in ['"', '\\'] {
                let mut text = String::from("\"");
                text.push_str(&"é".repeat(at / 2));
                text.push_str(&"a".repeat(at % 2));
                if special == '\\' {
                    text.push_str("\\n");
                }
                text.push_str("tail\"");
                let mut s = Scanner::new(&text);
                let read = s.str().expect("string");
                assert_eq!(
                    read,
                    serde_json::from_str::<String>(&text).expect("serde"),
                    "{text:?}"
                );
                assert!(s.end().is_some());
            }
        }
    }
}
