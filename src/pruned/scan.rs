//! The fast path of the pruned parse: one pass over the bytes that checks the JSON and
//! fills the slots, for reviews as the API server writes them. Where a member is read
//! and holds anything out of the ordinary (an escape, a number, a container where a
//! scalar is read, a member given twice, a non-object where members are read), or
//! where a skipped value nests past [`MAX_SKIPPED_DEPTH`], it gives up, and the exact
//! path (serde_json) parses the body instead. So this path only has to be right about
//! what it accepts: valid JSON only, and exactly the slots the exact path would fill.

use super::{Slot, TREE, member_named};
use crate::jsontext::{first_special, only_escaped_quotes};
use std::borrow::Cow;

/// Deeper skipped nesting is left to the exact path, which skips any depth.
const MAX_SKIPPED_DEPTH: u32 = 128;

const SPACES: u64 = u64::from_ne_bytes([b' '; 8]);

/// The slots for `text`, or `None` when the exact path must decide.
pub(super) fn scan(text: &str) -> Option<Vec<Slot<'_>>> {
    let mut scanner = Scanner {
        text,
        bytes: text.as_bytes(),
        at: 0,
        slots: vec![Slot::Absent; TREE.len()],
    };
    scanner.whitespace();
    scanner.members(0)?;
    scanner.whitespace();
    (scanner.at == scanner.bytes.len()).then_some(scanner.slots)
}

struct Scanner<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
    slots: Vec<Slot<'a>>,
}

/// Eight bytes, in memory order; the last bytes of the body are read one at a time.
fn word(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.at += 1)
    }

    #[inline(always)]
    fn whitespace(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.at += 1;
            // Indentation comes in runs of spaces: eight at a time.
            while let Some(word) = word(self.bytes, self.at) {
                if word != SPACES {
                    self.at += ((word ^ SPACES).trailing_zeros() / 8) as usize;
                    break;
                }
                self.at += 8;
            }
        }
    }

    /// A string, from its opening quote to past its closing one: whether it has escapes.
    /// Escapes are checked, not decoded, as serde_json skips a string. One loop over the
    /// bytes, eight at a time between escapes: a last-applied annotation has hundreds.
    #[inline]
    fn string(&mut self) -> Option<bool> {
        self.expect(b'"')?;
        let bytes = self.bytes;
        let mut at = self.at;
        let mut escaped = false;
        loop {
            while let Some(word) = word(bytes, at) {
                let special = first_special(word);
                if special != 0 {
                    at += (special.trailing_zeros() / 8) as usize;
                    break;
                }
                at += 8;
            }
            // At a special byte, or in the last seven bytes of the body.
            match *bytes.get(at)? {
                b'"' => {
                    self.at = at + 1;
                    return Some(escaped);
                }
                b'\\' => {
                    escaped = true;
                    match *bytes.get(at + 1)? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => at += 2,
                        b'u' => {
                            let hex = bytes.get(at + 2..at + 6)?;
                            if !hex.iter().all(u8::is_ascii_hexdigit) {
                                return None;
                            }
                            at += 6;
                        }
                        _ => return None,
                    }
                    // A string with one escape is likely an embedded document, with `\"`
                    // every few bytes: words of plain bytes and such escapes pass whole.
                    while let Some(word) = word(bytes, at) {
                        if !only_escaped_quotes(word) {
                            break;
                        }
                        at += 8;
                    }
                }
                0..0x20 => return None,
                _ => at += 1,
            }
        }
    }

    fn digits(&mut self) -> Option<()> {
        let start = self.at;
        while let Some(b'0'..=b'9') = self.peek() {
            self.at += 1;
        }
        (self.at > start).then_some(())
    }

    /// A number as JSON writes it (checked, not converted: it is skipped).
    fn number(&mut self) -> Option<()> {
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        match self.peek()? {
            b'0' => self.at += 1,
            b'1'..=b'9' => self.digits()?,
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            self.digits()?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.at += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.at += 1;
            }
            self.digits()?;
        }
        Some(())
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        if self.bytes.get(self.at..self.at + word.len())? != word {
            return None;
        }
        self.at += word.len();
        Some(())
    }

    /// A member's name and its colon, in a skipped object.
    fn skipped_name(&mut self) -> Option<()> {
        self.string()?;
        self.whitespace();
        self.expect(b':')?;
        self.whitespace();
        Some(())
    }

    /// Skips one value, from its first byte, without recursion.
    fn skip(&mut self) -> Option<()> {
        // Bit `d` is set when the container open at depth `d` is an object.
        let mut objects: u128 = 0;
        let mut depth: u32 = 0;
        loop {
            match self.peek()? {
                open @ (b'{' | b'[') => {
                    self.at += 1;
                    self.whitespace();
                    let close = if open == b'{' { b'}' } else { b']' };
                    if self.peek()? == close {
                        self.at += 1;
                    } else {
                        if depth == MAX_SKIPPED_DEPTH {
                            return None;
                        }
                        objects = (objects << 1) | u128::from(open == b'{');
                        depth += 1;
                        if open == b'{' {
                            self.skipped_name()?;
                        }
                        continue;
                    }
                }
                b'"' => {
                    self.string()?;
                }
                b't' => self.literal(b"true")?,
                b'f' => self.literal(b"false")?,
                b'n' => self.literal(b"null")?,
                b'-' | b'0'..=b'9' => self.number()?,
                _ => return None,
            }
            // After a value: the next item, or the end of enclosing containers.
            loop {
                if depth == 0 {
                    return Some(());
                }
                self.whitespace();
                let in_object = objects & 1 == 1;
                match self.peek()? {
                    b',' => {
                        self.at += 1;
                        self.whitespace();
                        if in_object {
                            self.skipped_name()?;
                        }
                        break;
                    }
                    b'}' if in_object => {}
                    b']' if !in_object => {}
                    _ => return None,
                }
                self.at += 1;
                objects >>= 1;
                depth -= 1;
            }
        }
    }

    /// The value of node `id`, whose members are read: an object (or null).
    fn members(&mut self, id: u16) -> Option<()> {
        if self.peek()? == b'n' {
            self.literal(b"null")?;
            self.slots[usize::from(id)] = Slot::Null;
            return Some(());
        }
        self.expect(b'{')?;
        self.slots[usize::from(id)] = Slot::Object;
        self.whitespace();
        if self.peek()? == b'}' {
            self.at += 1;
            return Some(());
        }
        let members = TREE[usize::from(id)].members.as_deref().unwrap_or_default();
        loop {
            let start = self.at + 1;
            if self.string()? {
                return None;
            }
            let name = self.bytes.get(start..self.at - 1)?;
            self.whitespace();
            self.expect(b':')?;
            self.whitespace();
            match member_named(members, name) {
                Some(member) if matches!(self.slots[usize::from(member)], Slot::Absent) => {
                    if TREE[usize::from(member)].members.is_some() {
                        self.members(member)?;
                    } else {
                        self.scalar(member)?;
                    }
                }
                Some(_) => return None,
                None => self.skip()?,
            }
            self.whitespace();
            match self.peek()? {
                b',' => {
                    self.at += 1;
                    self.whitespace();
                }
                b'}' => {
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// The value of node `id`, which is read whole: a string without escapes, a
    /// boolean or null.
    fn scalar(&mut self, id: u16) -> Option<()> {
        let slot = match self.peek()? {
            b'"' => {
                let start = self.at + 1;
                if self.string()? {
                    return None;
                }
                Slot::String(Cow::Borrowed(self.text.get(start..self.at - 1)?))
            }
            b't' => self.literal(b"true").map(|()| Slot::Bool(true))?,
            b'f' => self.literal(b"false").map(|()| Slot::Bool(false))?,
            b'n' => self.literal(b"null").map(|()| Slot::Null)?,
            _ => return None,
        };
        self.slots[usize::from(id)] = slot;
        Some(())
    }
}
