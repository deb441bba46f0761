//! Share group member ids as Kafka's ShareFetch and ShareAcknowledge read them: a Kafka `Uuid`
//! in its string form (URL-safe base64 of 16 bytes, padding optional, at most 24 characters), as
//! clients generate them (KIP-1082). Kafka 4.1 answers any other member id with
//! UNKNOWN_SERVER_ERROR (its `Uuid.fromString` throws); Strata gives the same code, with a message
//! saying why.

use base64::Engine as _;
use base64::alphabet::URL_SAFE;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// Kafka's `Uuid.fromString` limit on the string's length.
const LENGTH_MAX: usize = 24;

const DECODER: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// `Err` with Kafka's reason unless `member_id` is a Kafka `Uuid` string.
pub fn check(member_id: &str) -> Result<(), String> {
    if member_id.len() > LENGTH_MAX {
        return Err(format!("Input string `{member_id}` is too long to be decoded as a base64 UUID"));
    }
    match DECODER.decode(member_id) {
        Ok(bytes) if bytes.len() == 16 => Ok(()),
        Ok(bytes) => Err(format!(
            "Input string `{member_id}` decoded as {} bytes, which is not equal to the expected 16 bytes of a base64-encoded UUID",
            bytes.len()
        )),
        Err(error) => Err(format!("Input string `{member_id}` is not a base64 UUID: {error}")),
    }
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn kafka_uuid_strings_are_member_ids_and_nothing_else() {
        assert!(check("5QAGbXc6RYqXo6yBxa3rxQ").is_ok());
        assert!(check("5QAGbXc6RYqXo6yBxa3rxQ==").is_ok(), "padding is optional");
        assert!(check("AAAAAAAAAAAAAAAAAAAAAA").is_ok());
        assert!(check("member-a").is_err(), "decodes to 6 bytes");
        assert!(check("e5a1c2b4-0d3f-4c5e-9a7b-1c2d3e4f5a6b").is_err(), "too long");
        assert!(check("5QAGbXc6RYqXo6yBxa3r+Q").is_err(), "not the URL-safe alphabet");
    }
}
