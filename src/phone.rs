//! E.164 phone numbers, parsed at the HTTP edge.

use std::fmt;

/// A phone number in E.164 form: `+`, a country code, the national number; 7 to 15 digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PhoneNumber(String);

/// Why a string is not an E.164 number; the text is safe to show the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhoneError {
    MissingPlus,
    InvalidCharacter,
    LeadingZero,
    TooShort,
    TooLong,
    /// `+1` numbers (North American Numbering Plan) have exactly 10 national digits.
    NanpLength,
}

impl fmt::Display for PhoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PhoneError::MissingPlus => "must start with + and the country code (E.164)",
            PhoneError::InvalidCharacter => {
                "may contain only digits after the +, plus spaces, dashes, dots and parentheses"
            }
            PhoneError::LeadingZero => "country codes never start with 0",
            PhoneError::TooShort => "is too short for an E.164 number",
            PhoneError::TooLong => "is longer than the 15 digits E.164 allows",
            PhoneError::NanpLength => "+1 numbers need exactly 10 digits after the country code",
        })
    }
}

const MIN_DIGITS: usize = 7;
const MAX_DIGITS: usize = 15;

impl PhoneNumber {
    /// Parses `+1 (425) 555-0123` and the like: after the leading `+`, spaces, dashes, dots and
    /// parentheses are dropped; anything else is an error.
    pub fn parse(input: &str) -> Result<Self, PhoneError> {
        let rest = input
            .trim()
            .strip_prefix('+')
            .ok_or(PhoneError::MissingPlus)?;
        let mut digits = String::with_capacity(MAX_DIGITS);
        for c in rest.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' | '.' | '(' | ')' => {}
                _ => return Err(PhoneError::InvalidCharacter),
            }
            if digits.len() > MAX_DIGITS {
                return Err(PhoneError::TooLong);
            }
        }
        if digits.starts_with('0') {
            return Err(PhoneError::LeadingZero);
        }
        if digits.len() < MIN_DIGITS {
            return Err(PhoneError::TooShort);
        }
        if digits.starts_with('1') && digits.len() != 11 {
            return Err(PhoneError::NanpLength);
        }
        Ok(PhoneNumber(format!("+{digits}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The digits after the `+`.
    pub fn digits(&self) -> &str {
        &self.0[1..]
    }

    /// Masked for logs: `+1425…0123`.
    pub fn masked(&self) -> String {
        crate::redact::phone(&self.0)
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_and_normalizes() {
        for (input, expected) in [
            ("+14255550123", "+14255550123"),
            ("+1 (425) 555-0123", "+14255550123"),
            ("+44 7700.900.123", "+447700900123"),
            ("  +33 6 12 34 56 78 ", "+33612345678"),
        ] {
            assert_eq!(
                PhoneNumber::parse(input).unwrap().as_str(),
                expected,
                "{input}"
            );
        }
    }

    #[test]
    fn rejects_with_a_reason() {
        for (input, error) in [
            ("14255550123", PhoneError::MissingPlus),
            ("tel:+14255550123", PhoneError::MissingPlus),
            ("+1425555012a", PhoneError::InvalidCharacter),
            ("+1-425-555-0123 ext 4", PhoneError::InvalidCharacter),
            ("+0123456789", PhoneError::LeadingZero),
            ("+44123", PhoneError::TooShort),
            ("+4412345678901234", PhoneError::TooLong),
            ("+1425555012", PhoneError::NanpLength),
            ("+", PhoneError::TooShort),
        ] {
            assert_eq!(PhoneNumber::parse(input), Err(error), "{input}");
        }
    }

    proptest! {
        #[test]
        fn parsing_never_panics_and_output_is_canonical(input in "\\PC{0,40}") {
            if let Ok(number) = PhoneNumber::parse(&input) {
                let canonical = number.as_str();
                prop_assert!(canonical.starts_with('+'));
                prop_assert!(canonical[1..].bytes().all(|b| b.is_ascii_digit()));
                prop_assert!((MIN_DIGITS..=MAX_DIGITS).contains(&number.digits().len()));
                let reparsed = PhoneNumber::parse(canonical);
                prop_assert_eq!(reparsed, Ok(number.clone()));
            }
        }
    }
}
