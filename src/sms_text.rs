//! Message length and segment counting, as carriers bill them.
//!
//! A message that fits the GSM 03.38 alphabet travels as 7-bit GSM: 160 septets in one segment,
//! 153 per segment once split (the rest carries the concatenation header); characters of the
//! extension table take two septets. Anything else travels as UCS-2: 70 UTF-16 code units, 67
//! per segment once split.

use serde::Serialize;

/// Longest message ACS accepts, in UTF-16 code units.
pub const MAX_MESSAGE_UNITS: usize = 2048;

/// The GSM 03.38 default alphabet (one septet each), escape code excluded.
const GSM_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// The extension table (two septets each: escape plus the character).
const GSM_EXTENSION: &str = "\u{0C}^{}\\[~]|€";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Encoding {
    #[serde(rename = "GSM-7")]
    Gsm7,
    #[serde(rename = "UCS-2")]
    Ucs2,
}

/// How a message will travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segmentation {
    pub encoding: Encoding,
    pub segments: usize,
}

/// The message's length as ACS counts it: UTF-16 code units.
pub fn utf16_len(message: &str) -> usize {
    message.encode_utf16().count()
}

/// Counts the segments `message` needs.
pub fn segment(message: &str) -> Segmentation {
    match gsm_septets(message) {
        Some(septets) => Segmentation {
            encoding: Encoding::Gsm7,
            segments: parts(septets, 160, 153, || message.chars().map(septets_of)),
        },
        None => Segmentation {
            encoding: Encoding::Ucs2,
            segments: parts(utf16_len(message), 70, 67, || {
                message.chars().map(char::len_utf16)
            }),
        },
    }
}

/// Septets per ASCII character (0: not in GSM 03.38), so the common case needs no search
/// through the tables above.
const ASCII_SEPTETS: [u8; 128] = {
    let mut table = [0u8; 128];
    let tables: [(&str, u8); 2] = [(GSM_BASIC, 1), (GSM_EXTENSION, 2)];
    let mut t = 0;
    while t < tables.len() {
        let (chars, septets) = tables[t];
        let bytes = chars.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            // Bytes of multi-byte characters are all >= 0x80 and are not ASCII characters.
            if bytes[i] < 0x80 {
                table[bytes[i] as usize] = septets;
            }
            i += 1;
        }
        t += 1;
    }
    table
};

/// Septets of one character of the GSM alphabet; 0 for a character outside it.
fn septets_of(c: char) -> usize {
    if c.is_ascii() {
        usize::from(ASCII_SEPTETS[c as usize])
    } else if GSM_BASIC.contains(c) {
        1
    } else if GSM_EXTENSION.contains(c) {
        2
    } else {
        0
    }
}

fn gsm_septets(message: &str) -> Option<usize> {
    message.chars().try_fold(0usize, |total, c| {
        let septets = septets_of(c);
        (septets > 0).then_some(total + septets)
    })
}

/// Segments for `units` in all: one when they fit `single`, else parts of `per_part` each.
/// A character is never split between parts (an extension character's escape stays with it,
/// a surrogate pair stays whole), so a part may end short: `widths` gives each character's
/// units for that count.
fn parts<W: Iterator<Item = usize>>(
    units: usize,
    single: usize,
    per_part: usize,
    widths: impl FnOnce() -> W,
) -> usize {
    if units <= single {
        return 1;
    }
    let (mut parts, mut used) = (1, 0);
    for width in widths() {
        if used + width > per_part {
            parts += 1;
            used = 0;
        }
        used += width;
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(message: &str) -> (Encoding, usize) {
        let s = segment(message);
        (s.encoding, s.segments)
    }

    #[test]
    fn gsm_boundaries() {
        assert_eq!(seg("Hello World via SMS"), (Encoding::Gsm7, 1));
        assert_eq!(seg(&"a".repeat(160)), (Encoding::Gsm7, 1));
        assert_eq!(seg(&"a".repeat(161)), (Encoding::Gsm7, 2));
        assert_eq!(seg(&"a".repeat(306)), (Encoding::Gsm7, 2));
        assert_eq!(seg(&"a".repeat(307)), (Encoding::Gsm7, 3));
    }

    #[test]
    fn extension_characters_count_twice() {
        assert_eq!(seg(&"€".repeat(80)), (Encoding::Gsm7, 1));
        assert_eq!(seg(&"€".repeat(81)), (Encoding::Gsm7, 2));
        assert_eq!(seg(&format!("{}{{", "a".repeat(159))), (Encoding::Gsm7, 2));
    }

    #[test]
    fn a_character_is_never_split_between_parts() {
        // 152 septets, then an escape and '€' that do not fit the first part's last septet.
        let euro = format!("{}€{}", "a".repeat(152), "a".repeat(152));
        assert_eq!(seg(&euro), (Encoding::Gsm7, 3));
        let euro_fits = format!("{}€{}", "a".repeat(151), "a".repeat(153));
        assert_eq!(seg(&euro_fits), (Encoding::Gsm7, 2));
        // 66 units, then a surrogate pair that does not fit the first part's last unit.
        let emoji = format!("{}😀{}", "ç".repeat(66), "ç".repeat(66));
        assert_eq!(seg(&emoji), (Encoding::Ucs2, 3));
        // 33 emoji fill 66 of a part's 67 units.
        assert_eq!(seg(&"😀".repeat(1024)), (Encoding::Ucs2, 32));
    }

    #[test]
    fn anything_else_is_ucs2() {
        assert_eq!(seg(&"ç".repeat(70)), (Encoding::Ucs2, 1)); // lower-case ç is not GSM
        assert_eq!(seg(&"ç".repeat(71)), (Encoding::Ucs2, 2));
        assert_eq!(seg(&"😀".repeat(35)), (Encoding::Ucs2, 1)); // two code units each
        assert_eq!(seg(&"😀".repeat(36)), (Encoding::Ucs2, 2));
        assert_eq!(seg(&"x".repeat(135)), (Encoding::Gsm7, 1));
        assert_eq!(seg(&format!("{}ü€", "a".repeat(100))), (Encoding::Gsm7, 1));
    }

    #[test]
    fn the_ascii_table_agrees_with_the_alphabet() {
        for byte in 0u8..128 {
            let c = char::from(byte);
            let expected = if GSM_BASIC.contains(c) {
                1
            } else if GSM_EXTENSION.contains(c) {
                2
            } else {
                0
            };
            assert_eq!(ASCII_SEPTETS[usize::from(byte)], expected, "{c:?}");
        }
        // Spot checks: '`' is not GSM, '[' is an extension, '@' and '\n' are basic.
        assert_eq!(ASCII_SEPTETS[usize::from(b'`')], 0);
        assert_eq!(ASCII_SEPTETS[usize::from(b'[')], 2);
        assert_eq!(ASCII_SEPTETS[usize::from(b'@')], 1);
        assert_eq!(ASCII_SEPTETS[usize::from(b'\n')], 1);
    }

    #[test]
    fn length_is_in_utf16_units() {
        assert_eq!(utf16_len("😀"), 2);
        assert_eq!(utf16_len("é"), 1);
    }
}
