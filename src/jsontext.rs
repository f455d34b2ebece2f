//! JSON text at the byte level, shared by the pruned parse (which reads strings) and the
//! writers of answers and log lines (which escape them with the writers here).

use std::fmt::{self, Write};

const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
const HIGH_BITS: u64 = u64::from_ne_bytes([0x80; 8]);
const QUOTES: u64 = u64::from_ne_bytes([b'"'; 8]);
const BACKSLASHES: u64 = u64::from_ne_bytes([b'\\'; 8]);
const CONTROL_LIMIT: u64 = u64::from_ne_bytes([0x20; 8]);

/// The high bit of every byte of `word` that is zero. Borrows only carry upwards, so
/// the lowest set bit is exact, which is the only one read.
fn zero_bytes(word: u64) -> u64 {
    word.wrapping_sub(ONES) & !word & HIGH_BITS
}

/// Of eight bytes read little-endian, the high bit of the first (lowest) byte that does
/// not stand in a JSON string as it is: a quote, a backslash or a control character
/// (below U+0020); bits above it may be wrong. Zero when there is none.
#[inline(always)]
pub fn first_special(word: u64) -> u64 {
    zero_bytes(word ^ QUOTES)
        | zero_bytes(word ^ BACKSLASHES)
        | (word.wrapping_sub(CONTROL_LIMIT) & !word & HIGH_BITS)
}

const LOW_SEVEN_BITS: u64 = u64::from_ne_bytes([0x7f; 8]);
const CONTROL_BITS: u64 = u64::from_ne_bytes([0xe0; 8]);

/// The high bit of every byte of `word` that is zero, exact for every byte (no borrow
/// crosses bytes), unlike [`zero_bytes`].
#[inline(always)]
fn exact_zero_bytes(word: u64) -> u64 {
    !(((word & LOW_SEVEN_BITS).wrapping_add(LOW_SEVEN_BITS)) | word) & HIGH_BITS
}

/// Whether, in eight bytes read little-endian, every backslash is followed by a quote
/// within the word, every quote follows a backslash, and no byte is a control
/// character: the inside of a JSON string as a last-applied annotation writes it, eight
/// bytes that hold nothing but `\"` escapes and plain characters.
#[inline(always)]
pub fn only_escaped_quotes(word: u64) -> bool {
    let quotes = exact_zero_bytes(word ^ QUOTES);
    let backslashes = exact_zero_bytes(word ^ BACKSLASHES);
    let controls = exact_zero_bytes(word & CONTROL_BITS);
    // A backslash in the last byte escapes a byte of the next word: not passed here.
    controls == 0 && backslashes >> 56 == 0 && quotes == backslashes << 8
}

/// How many bytes at the start of `bytes` stand in a JSON string as they are: up to the
/// first quote, backslash or control character, eight bytes at a time.
pub fn plain_prefix(bytes: &[u8]) -> usize {
    let mut at = 0;
    while let Some(chunk) = bytes.get(at..at + 8) {
        let special = first_special(u64::from_le_bytes(chunk.try_into().expect("eight bytes")));
        if special != 0 {
            return at + (special.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    at + bytes[at..]
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
        .unwrap_or(bytes.len() - at)
}

/// `value` as a JSON string.
pub fn write_json_display(out: &mut impl Write, value: impl fmt::Display) -> fmt::Result {
    out.write_char('"')?;
    write_json_escaped(&mut *out, value)?;
    out.write_char('"')
}

/// `value` escaped as the inside of a JSON string, without the quotes.
pub fn write_json_escaped(out: &mut impl Write, value: impl fmt::Display) -> fmt::Result {
    write!(JsonEscaped(out), "{value}")
}

/// `text` as a JSON string, escaped as serde_json escapes it.
pub fn write_json_str(out: &mut impl Write, text: &str) -> fmt::Result {
    out.write_char('"')?;
    JsonEscaped(&mut *out).write_str(text)?;
    out.write_char('"')
}

/// Escapes what is written through it as the inside of a JSON string.
struct JsonEscaped<'w, W: ?Sized>(&'w mut W);

impl<W: Write + ?Sized> Write for JsonEscaped<'_, W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let mut at = 0;
        loop {
            // Escaped bytes are ASCII, so the plain run ends at a character boundary.
            let plain = plain_prefix(&text.as_bytes()[at..]);
            self.0.write_str(&text[at..at + plain])?;
            at += plain;
            let Some(&byte) = text.as_bytes().get(at) else {
                return Ok(());
            };
            match byte {
                b'"' => self.0.write_str("\\\"")?,
                b'\\' => self.0.write_str("\\\\")?,
                b'\n' => self.0.write_str("\\n")?,
                b'\r' => self.0.write_str("\\r")?,
                b'\t' => self.0.write_str("\\t")?,
                0x08 => self.0.write_str("\\b")?,
                0x0c => self.0.write_str("\\f")?,
                _ => write!(self.0, "\\u{byte:04x}")?,
            }
            at += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_prefix_stops_at_what_json_escapes() {
        for special in [b'"', b'\\', 0x00, 0x1f, b'\n'] {
            for len in 0..20 {
                for at in 0..=len {
                    let mut bytes = vec![b'a'; len];
                    let want = if at < len {
                        bytes[at] = special;
                        at
                    } else {
                        len
                    };
                    assert_eq!(plain_prefix(&bytes), want, "{special} at {at} of {len}");
                }
            }
        }
        // What stands as it is: the rest of ASCII, DEL and UTF-8.
        let plain = "a ~\u{7f}é€😀 !#$%&'()*+,-./09:;<=>?@AZ[]^_`az{|}";
        assert_eq!(plain_prefix(plain.as_bytes()), plain.len());
    }

    /// `only_escaped_quotes` on `word`, against its rule read byte by byte.
    fn check_only_escaped_quotes(word: [u8; 8]) {
        let want = word.iter().all(|&b| b >= 0x20)
            && word[7] != b'\\'
            && (0..8).all(|i| (word[i] == b'"') == (i > 0 && word[i - 1] == b'\\'));
        assert_eq!(
            only_escaped_quotes(u64::from_le_bytes(word)),
            want,
            "{:?}",
            String::from_utf8_lossy(&word)
        );
    }

    #[test]
    fn only_escaped_quotes_passes_exactly_words_of_plain_bytes_and_escaped_quotes() {
        // Every word over these bytes.
        let alphabet = [b'a', b'"', b'\\', 0x1f, b'\n', 0xc3];
        let mut word = [0u8; 8];
        for mut n in 0..alphabet.len().pow(8) {
            for byte in &mut word {
                *byte = alphabet[n % alphabet.len()];
                n /= alphabet.len();
            }
            check_only_escaped_quotes(word);
        }
    }

    #[test]
    fn only_escaped_quotes_reads_every_byte_value_at_every_place() {
        // Each byte value at each place of words that pass.
        for base in [*b"aaaaaaaa", *b"\\\"a\\\"aaa", *b"a\\\"aaa\\\""] {
            for at in 0..8 {
                for value in 0..=255u8 {
                    let mut word = base;
                    word[at] = value;
                    check_only_escaped_quotes(word);
                }
            }
        }
    }

    #[test]
    fn escapes_as_serde_json_does() {
        let text: String = (0u8..0x80).map(char::from).chain("é€😀".chars()).collect();
        let mut ours = String::new();
        write_json_str(&mut ours, &text).unwrap();
        assert_eq!(ours, serde_json::to_string(&text).unwrap());
    }
}
