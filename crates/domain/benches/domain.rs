//! Benchmarks of the hot domain paths: rendering a typical email and finding the next opening.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use jiff::Timestamp;
use reachkit_domain::html::prepare_body;
use reachkit_domain::schedule::Schedule;
use reachkit_domain::template::{Format, MergeData, RenderContext, Template};

const BODY: &str = "<p>Hi {{first_name|there}},</p>\
<p>{{SPINTAX|I noticed|I saw|I read}} that {{company|your team}} is hiring {{role|sales reps}} in \
{{city|your area}}. Teams like yours usually lose <b>hours every week</b> to manual follow-ups.</p>\
<p>Here is a two-minute walkthrough: {{LOOM|loom_url|https://example.com/demo}}</p>\
<p>Would a quick call next week make sense, {{firstName}}?</p>\
<p>Best,<br>Sam</p><p><a href=\"{{unsubscribe_url}}\">Unsubscribe</a></p>";

fn render(c: &mut Criterion) {
    let subject = Template::parse("{{SPINTAX|Quick question|Idea}} for {{company|you}}").unwrap();
    let body = Template::parse(BODY).unwrap();
    let data = MergeData::new(
        "ada@acme.com",
        "Ada",
        "Lovelace",
        [
            ("company", "Acme"),
            ("role", "account executives"),
            ("city", "Berlin"),
            ("Loom URL", "https://www.loom.com/share/0123456789abcdef"),
        ],
    );
    let ctx = RenderContext {
        data: &data,
        unsubscribe_url: Some("https://reachkit.example/u/0123456789"),
        lead_key: "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
        step: 1,
    };
    c.bench_function("parse typical body", |b| {
        b.iter(|| Template::parse(black_box(BODY)));
    });
    c.bench_function("render typical email (subject + html + text)", |b| {
        b.iter(|| {
            let s = subject.render(black_box(&ctx), Format::Text);
            let h = body.render(black_box(&ctx), Format::Html);
            let t = body.render(black_box(&ctx), Format::Text);
            (s, h, t)
        });
    });
    c.bench_function("prepare body (sanitise + unsubscribe + text)", |b| {
        b.iter(|| prepare_body(black_box(BODY), true));
    });
}

fn next_opening(c: &mut Criterion) {
    let schedule = Schedule::default();
    let open: Timestamp = "2026-01-05T15:00:00Z".parse().unwrap();
    let friday_evening: Timestamp = "2026-01-09T23:30:00Z".parse().unwrap();
    c.bench_function("next_opening while open", |b| {
        b.iter(|| schedule.next_opening(black_box(open)));
    });
    c.bench_function("next_opening friday evening -> monday", |b| {
        b.iter(|| schedule.next_opening(black_box(friday_evening)));
    });
    c.bench_function("is_open", |b| {
        b.iter(|| schedule.is_open(black_box(friday_evening)));
    });
}

criterion_group!(benches, render, next_opening);
criterion_main!(benches);
