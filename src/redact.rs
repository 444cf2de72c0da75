//! Masking of personal data and secrets before they reach a log line or an error message.

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

/// A URL as far as it is safe to show: without user info, query or fragment, any of which may
/// carry a secret.
pub fn url(raw: &str) -> String {
    let base = raw.split(['?', '#']).next().unwrap_or_default();
    match base.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let host = authority
                .rsplit_once('@')
                .map_or(authority, |(_, host)| host);
            format!("{scheme}://{host}{path}")
        }
        None => base.to_owned(),
    }
}

/// Masks everything in free text that could be a phone number (a run of 7 or more digits, with
/// its `+` if any), for upstream messages that end up in a log line: ACS may echo a recipient
/// back, and serde quotes the value it could not read.
pub fn numbers(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(|c: char| c.is_ascii_digit() || c == '+') {
        out.push_str(&rest[..start]);
        let candidate = &rest[start..];
        let plus = usize::from(candidate.starts_with('+'));
        let digits = candidate[plus..]
            .bytes()
            .take_while(u8::is_ascii_digit)
            .count();
        let end = plus + digits;
        if digits >= 7 {
            out.push_str(&phone(&candidate[..end]));
        } else {
            out.push_str(&candidate[..end.max(1)]);
        }
        rest = &candidate[end.max(1)..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_numbers_inside_text() {
        assert_eq!(
            numbers("Invalid To +14255550123, or 4255550123?"),
            "Invalid To +1425…0123, or 42555…0123?"
        );
        assert_eq!(
            numbers("answered 429 at line 1 column 12 + 3"),
            "answered 429 at line 1 column 12 + 3"
        );
        assert_eq!(numbers("ünïcode +"), "ünïcode +");
    }

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
