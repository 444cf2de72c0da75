//! SMS senders: what `SMS_FROM`, `SMS_ALLOWED_SENDERS` and a request's `from` may name.

use crate::phone::PhoneNumber;
use std::fmt;

/// A sender ACS can send from: an E.164 number (toll-free or 10DLC), a short code of 5 or 6
/// digits, or an alphanumeric sender id of 1 to 11 characters with at least one letter.
/// Numbers are kept in canonical form, so `+1 800 555 0100` and `+18005550100` are one sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sender(String);

/// Characters of an alphanumeric sender id besides letters and digits.
const SENDER_ID_PUNCTUATION: &[char] = &[' ', '+', '-', '_', '&'];

impl Sender {
    /// Parses a sender, or says in words what it is not.
    pub fn parse(input: &str) -> Result<Self, String> {
        let input = input.trim();
        if input.starts_with('+') && !input.chars().any(|c| c.is_ascii_alphabetic()) {
            return PhoneNumber::parse(input)
                .map(|number| Sender(number.as_str().to_owned()))
                .map_err(|e| format!("a sender number {e}"));
        }
        if input.bytes().all(|b| b.is_ascii_digit()) {
            return match input.len() {
                5 | 6 => Ok(Sender(input.to_owned())),
                _ => Err("a short code has 5 or 6 digits (a number starts with +)".into()),
            };
        }
        let valid_id = (1..=11).contains(&input.chars().count())
            && input.chars().any(|c| c.is_ascii_alphabetic())
            && input
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || SENDER_ID_PUNCTUATION.contains(&c));
        if valid_id {
            Ok(Sender(input.to_owned()))
        } else {
            Err(
                "not an E.164 number, a 5 or 6 digit short code, or a sender id of 1 to 11 \
                 letters, digits, spaces and + - _ & with at least one letter"
                    .into(),
            )
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_short_codes_and_sender_ids() {
        for (input, canonical) in [
            ("+18005550100", "+18005550100"),
            (" +1 (800) 555-0100 ", "+18005550100"),
            ("12345", "12345"),
            ("123456", "123456"),
            ("Contoso", "Contoso"),
            ("CONTOSO-OTP", "CONTOSO-OTP"),
            ("A&B 24", "A&B 24"),
        ] {
            assert_eq!(Sender::parse(input).unwrap().as_str(), canonical, "{input}");
        }
    }

    #[test]
    fn anything_else_is_refused() {
        for input in [
            "",
            "+1 800 555 010",
            "1234",
            "1234567",
            "18005550100",
            "TwelveChars1",
            "Contoso!",
            "Cöntoso",
            "+-_&",
        ] {
            assert!(Sender::parse(input).is_err(), "{input:?}");
        }
    }
}
