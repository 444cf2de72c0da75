//! Masking of personal data before it reaches a log line.

/// Masks a phone number or sender id, keeping enough to recognise it in support cases:
/// `+14255550123` becomes `+1425…0123`. Short values keep only their first character.
pub fn phone(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    if chars.len() <= 8 {
        let first: String = chars.iter().take(1).collect();
        return format!("{first}…");
    }
    let head: String = chars[..5].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_the_middle_of_a_number() {
        assert_eq!(phone("+14255550123"), "+1425…0123");
        assert_eq!(phone("+447700900123"), "+4477…0123");
    }

    #[test]
    fn short_values_reveal_almost_nothing() {
        assert_eq!(phone("12345"), "1…");
        assert_eq!(phone(""), "…");
    }
}
