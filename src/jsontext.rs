//! Escaping JSON strings for the writers of answers and log lines.

use std::fmt::{self, Write};

/// How many bytes at the start of `bytes` stand in a JSON string as they are: up to the
/// first quote, backslash or control character.
fn plain_prefix(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
        .unwrap_or(bytes.len())
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

    #[test]
    fn escapes_as_serde_json_does() {
        let text: String = (0u8..0x80).map(char::from).chain("é€😀".chars()).collect();
        let mut ours = String::new();
        write_json_str(&mut ours, &text).unwrap();
        assert_eq!(ours, serde_json::to_string(&text).unwrap());
    }
}
