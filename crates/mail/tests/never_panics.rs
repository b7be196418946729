//! `classify` must never panic, whatever bytes arrive over IMAP.

use std::path::PathBuf;

use proptest::prelude::*;
use reachkit_mail::inbound::classify;

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let _ = classify(&bytes);
    }

    #[test]
    fn header_like_text_never_panics(
        headers in proptest::collection::vec(
            ("(From|To|Subject|Content-Type|X-Failed-Recipients|Auto-Submitted|Final-Recipient|Status)",
             "[ -~]{0,80}"),
            0..12,
        ),
        body in "[ -~\n\t]{0,1000}",
    ) {
        let mut raw = String::new();
        for (name, value) in headers {
            raw.push_str(&format!("{name}: {value}\n"));
        }
        raw.push('\n');
        raw.push_str(&body);
        let _ = classify(raw.as_bytes());
    }
}

#[test]
fn truncated_and_corrupted_corpus_messages_never_panic() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpora/bounces/eml");
    assert!(
        dir.is_dir(),
        "the bounce corpus is missing: expected {}",
        dir.display()
    );
    for entry in std::fs::read_dir(&dir).expect("read corpus") {
        let raw = std::fs::read(entry.expect("entry").path()).expect("read file");
        let step = (raw.len() / 13).max(1);
        for cut in (0..raw.len()).step_by(step) {
            let _ = classify(&raw[..cut]);
            let mut corrupted = raw.clone();
            corrupted[cut] ^= 0xA5;
            let _ = classify(&corrupted);
        }
    }
}
