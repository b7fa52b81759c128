//! RFC 8628 §6.1 user codes: 8 letters from an alphabet without vowels
//! (no words) and without look-alikes (no I/1, O/0), shown as XXXX-XXXX,
//! read back case- and dash-insensitively. 20^8 ≈ 2.6·10^10 codes (34.6
//! bits); with guesses throttled per address and overall (`endpoints/
//! device.rs`), finding a live code by guessing is out of reach.

use rand::RngCore;

/// RFC 8628 §6.1's example alphabet: consonants only.
pub const ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
pub const LEN: usize = 8;
/// Longest input the normaliser looks at (a pasted code with spaces,
/// dashes or a stray newline is far shorter).
pub const MAX_INPUT: usize = 64;

/// A fresh code, normalised (no dash). Uniform: random bytes of 240 and
/// above are redrawn, so every letter is exactly as likely (256 = 12·20 + 16).
pub fn generate() -> String {
    let mut out = String::with_capacity(LEN);
    let mut buf = [0u8; 16];
    while out.len() < LEN {
        rand::rngs::OsRng.fill_bytes(&mut buf);
        for b in buf {
            if b < 240 && out.len() < LEN {
                out.push(ALPHABET[usize::from(b % 20)] as char);
            }
        }
    }
    out
}

/// `BCDFGHJK` as the user sees it: `BCDF-GHJK`.
pub fn display(code: &str) -> String {
    if code.len() == LEN && code.is_ascii() {
        format!("{}-{}", &code[..4], &code[4..])
    } else {
        code.to_string()
    }
}

/// What the user typed, as the stored form: letters upper-cased, dashes
/// and spaces dropped. None when it cannot be a code at all (wrong length,
/// a character outside the alphabet, too long to look at).
pub fn normalise(input: &str) -> Option<String> {
    if input.len() > MAX_INPUT {
        return None;
    }
    let mut out = String::with_capacity(LEN);
    for c in input.chars() {
        match c {
            '-' | ' ' | '\t' | '\r' | '\n' | '\u{2010}'..='\u{2015}' => continue,
            c if c.is_ascii_alphabetic() => {
                let u = c.to_ascii_uppercase();
                if !ALPHABET.contains(&(u as u8)) || out.len() == LEN {
                    return None;
                }
                out.push(u);
            }
            _ => return None,
        }
    }
    (out.len() == LEN).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_codes_are_normal_and_round_trip() {
        for _ in 0..200 {
            let c = generate();
            assert_eq!(c.len(), LEN);
            assert!(c.bytes().all(|b| ALPHABET.contains(&b)), "{c}");
            assert_eq!(normalise(&c).as_deref(), Some(c.as_str()));
            assert_eq!(normalise(&display(&c)).as_deref(), Some(c.as_str()));
            assert_eq!(normalise(&display(&c).to_lowercase()).as_deref(), Some(c.as_str()));
        }
    }

    #[test]
    fn every_letter_is_drawn() {
        let mut seen = [false; 20];
        for _ in 0..100 {
            for b in generate().bytes() {
                seen[ALPHABET.iter().position(|a| *a == b).unwrap()] = true;
            }
        }
        assert!(seen.iter().all(|s| *s));
    }

    #[test]
    fn typing_variants_and_refusals() {
        assert_eq!(normalise("bcdf-ghjk").as_deref(), Some("BCDFGHJK"));
        assert_eq!(normalise(" BCDF GHJK\n").as_deref(), Some("BCDFGHJK"));
        assert_eq!(normalise("BC-DF-GH-JK").as_deref(), Some("BCDFGHJK"));
        assert_eq!(normalise("BCDF\u{2013}GHJK").as_deref(), Some("BCDFGHJK"));
        for bad in [
            "",
            "BCDF-GHJ",
            "BCDF-GHJKL",
            "ABCD-FGHJ",
            "BCDF-GHJ1",
            "BCDF-GHJ\u{212A}",
            "BCDFGHJK;",
            &"-".repeat(100),
        ] {
            assert_eq!(normalise(bad), None, "{bad:?}");
        }
        assert_eq!(display("BCDFGHJK"), "BCDF-GHJK");
    }
}
