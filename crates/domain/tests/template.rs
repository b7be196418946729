//! Merge-tag rules: parsing, errors with offsets, names, built-ins, LOOM, SPINTAX, escaping.

use proptest::prelude::*;
use reachkit_domain::template::{
    Format, MergeData, RenderContext, Template, TemplateError, fnv1a64, loom_id, normalize_name,
};

fn lead() -> MergeData {
    MergeData::new(
        "ada@example.com",
        "Ada",
        "Lovelace",
        [
            ("Company", "Acme & Sons"),
            ("favourite Color", "<blue>"),
            ("loomVideo", "https://www.loom.com/share/0123abcd?sid=9"),
        ],
    )
}

fn render_with(src: &str, data: &MergeData, format: Format) -> (String, Vec<String>) {
    let ctx = RenderContext {
        data,
        unsubscribe_url: Some("https://rk.example/u/tok"),
        lead_key: "lead-1",
        step: 1,
    };
    let r = Template::parse(src)
        .unwrap_or_else(|e| panic!("{src}: {e}"))
        .render(&ctx, format);
    (r.text, r.missing)
}

fn text(src: &str) -> String {
    render_with(src, &lead(), Format::Text).0
}

#[test]
fn names_are_normalised() {
    let cases = [
        ("first_name", "first_name"),
        ("First Name", "first_name"),
        ("firstName", "first_name"),
        ("FirstName", "first_name"),
        ("FIRST_NAME", "first_name"),
        ("  first-name ", "first_name"),
        ("first.name", "first_name"),
        ("unsubscribeURL", "unsubscribe_url"),
        ("HTMLBody", "html_body"),
        ("address2", "address2"),
        ("line2Street", "line2_street"),
        ("company", "company"),
        ("Société", "société"),
        ("", ""),
        ("__", ""),
    ];
    for (input, expected) in cases {
        assert_eq!(normalize_name(input), expected, "{input:?}");
    }
    for src in [
        "{{First Name}}",
        "{{first_name}}",
        "{{firstName}}",
        "{{ FIRST_NAME }}",
    ] {
        assert_eq!(text(src), "Ada", "{src}");
    }
}

#[test]
fn built_ins_and_variables_render() {
    let cases = [
        ("Hi {{first_name}} {{last_name}}", "Hi Ada Lovelace"),
        (
            "{{full_name}} <{{email}}>",
            "Ada Lovelace <ada@example.com>",
        ),
        ("{{contact}}", "Ada Lovelace"),
        ("{{company}}", "Acme & Sons"),
        ("{{Favourite Color}}", "<blue>"),
        ("{{unsubscribe_url}}", "https://rk.example/u/tok"),
        ("{{unsubscribeUrl}}", "https://rk.example/u/tok"),
    ];
    for (src, expected) in cases {
        assert_eq!(text(src), expected, "{src}");
    }
}

#[test]
fn contact_falls_back_to_the_address() {
    let nameless = MergeData::new("bob@example.com", " ", "", [("x", "y")]);
    assert_eq!(
        render_with("{{contact}}", &nameless, Format::Text).0,
        "bob@example.com"
    );
    let (out, missing) = render_with(
        "[{{full_name}}][{{first_name|there}}]",
        &nameless,
        Format::Text,
    );
    assert_eq!(out, "[][there]");
    assert_eq!(missing, ["full_name"]);
    let first_only = MergeData::new("c@example.com", "Cy", "", Vec::<(String, String)>::new());
    assert_eq!(
        render_with("{{full_name}}|{{contact}}", &first_only, Format::Text).0,
        "Cy|Cy"
    );
}

#[test]
fn fallbacks_apply_to_missing_or_blank_values() {
    let data = MergeData::new("d@example.com", "", "", [("role", "  "), ("city", "Paris")]);
    let cases = [
        ("Hi {{first_name|there}},", "Hi there,", vec![]),
        ("{{ role | team lead }}", "team lead", vec![]),
        ("{{city|nowhere}}", "Paris", vec![]),
        ("{{title|a|b}}", "a|b", vec![]),
        ("{{title|}}!", "!", vec![]),
        (
            "{{title}} and {{Title}} and {{nick}}",
            " and  and ",
            vec!["title", "nick"],
        ),
    ];
    for (src, expected, missing) in cases {
        let (out, got) = render_with(src, &data, Format::Text);
        assert_eq!(out, expected, "{src}");
        assert_eq!(got, missing, "{src}");
    }
    let ctx = RenderContext {
        data: &data,
        unsubscribe_url: None,
        lead_key: "l",
        step: 1,
    };
    let r = Template::parse("{{unsubscribe_url}}")
        .unwrap()
        .render(&ctx, Format::Text);
    assert_eq!(r.missing, ["unsubscribe_url"]);
}

#[test]
fn html_rendering_escapes_values_but_not_the_authors_markup() {
    let (out, _) = render_with(
        "<p>{{company}} likes {{favourite_color}}; {{nick|Smith &amp; Co}}</p><a href=\"{{unsubscribe_url}}\">x</a>",
        &lead(),
        Format::Html,
    );
    assert_eq!(
        out,
        "<p>Acme &amp; Sons likes &lt;blue&gt;; Smith &amp; Co</p><a href=\"https://rk.example/u/tok\">x</a>"
    );
    let quote = MergeData::new(
        "e@example.com",
        "O'Neil \"Bo\"",
        "",
        Vec::<(String, String)>::new(),
    );
    assert_eq!(
        render_with("{{first_name}}", &quote, Format::Html).0,
        "O&#39;Neil &quot;Bo&quot;"
    );
    assert_eq!(
        render_with("{{first_name}}", &quote, Format::Text).0,
        "O'Neil \"Bo\""
    );
}

#[test]
fn loom_renders_a_linked_thumbnail_in_html_and_the_url_in_text() {
    let src = "Watch: {{LOOM|loom_video|no video}}";
    assert_eq!(
        text(src),
        "Watch: https://www.loom.com/share/0123abcd?sid=9"
    );
    assert_eq!(
        render_with(src, &lead(), Format::Html).0,
        "Watch: <a href=\"https://www.loom.com/share/0123abcd?sid=9\"><img src=\"https://cdn.loom.com/sessions/thumbnails/0123abcd-with-play.gif\" alt=\"Loom video\" width=\"320\"></a>"
    );
    let none = MergeData::new(
        "f@example.com",
        "F",
        "",
        [("loom_video", "https://youtube.com/watch?v=1")],
    );
    assert_eq!(render_with(src, &none, Format::Text).0, "Watch: no video");
    let (out, missing) = render_with("{{loom|Loom Video}}", &none, Format::Html);
    assert_eq!((out.as_str(), missing), ("", vec!["loom_video".to_owned()]));
    let ids = [
        ("https://www.loom.com/share/abc123", Some("abc123")),
        ("http://loom.com/embed/ABC?t=1", Some("ABC")),
        (" https://www.loom.com/share/abc123/ ", Some("abc123")),
        ("https://www.loom.com/share/", None),
        ("https://evil.com/share/abc", None),
        ("https://www.loom.com/looms/abc", None),
        ("loom.com/share/abc", None),
    ];
    for (url, id) in ids {
        assert_eq!(loom_id(url), id, "{url}");
    }
}

#[test]
fn spintax_is_deterministic_per_lead_and_step() {
    let t = Template::parse("{{SPINTAX|Hi|Hello|Hey}} {{spintax| there | friend }}").unwrap();
    let data = lead();
    let render = |key: &str, step| {
        t.render(
            &RenderContext {
                data: &data,
                unsubscribe_url: None,
                lead_key: key,
                step,
            },
            Format::Text,
        )
        .text
    };
    assert_eq!(render("lead-1", 1), render("lead-1", 1));
    let mut seen = std::collections::BTreeSet::new();
    for i in 0..60 {
        let out = render(&format!("lead-{i}"), 1);
        let (greeting, who) = out.split_once(' ').unwrap();
        assert!(["Hi", "Hello", "Hey"].contains(&greeting), "{out}");
        assert!(["there", "friend"].contains(&who), "{out}");
        seen.insert(out);
    }
    // All six combinations occur over 60 leads: the choice really varies.
    assert_eq!(seen.len(), 6);
    // FNV-1a reference values.
    assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
    assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
}

#[test]
fn escaped_braces_are_literal() {
    assert_eq!(
        text(r"Use \{{first_name}} to greet {{first_name}}"),
        "Use {{first_name}} to greet Ada"
    );
    assert_eq!(text(r"\{{"), "{{");
    assert_eq!(text("a }} b { c } d \\ e"), "a }} b { c } d \\ e");
    assert!(Template::parse(r"\{{x").unwrap().is_plain());
}

#[test]
fn errors_carry_the_offset_of_the_offending_braces() {
    let cases = [
        ("Hi {{first_name", TemplateError::Unbalanced { offset: 3 }),
        ("{{a}} and {{b", TemplateError::Unbalanced { offset: 10 }),
        ("{{a {{b}}", TemplateError::Unbalanced { offset: 0 }),
        ("é{{", TemplateError::Unbalanced { offset: 2 }),
        ("x {{}}", TemplateError::EmptyTag { offset: 2 }),
        ("{{ | fallback }}", TemplateError::EmptyTag { offset: 0 }),
        ("ab{{--}}", TemplateError::EmptyTag { offset: 2 }),
        ("{{LOOM}}", TemplateError::LoomWithoutColumn { offset: 0 }),
        (
            "{{LOOM| |x}}",
            TemplateError::LoomWithoutColumn { offset: 0 },
        ),
        (
            "- {{SPINTAX}}",
            TemplateError::SpintaxWithoutOptions { offset: 2 },
        ),
    ];
    for (src, expected) in cases {
        assert_eq!(Template::parse(src), Err(expected), "{src}");
        assert_eq!(
            expected.offset(),
            Template::parse(src).unwrap_err().offset()
        );
    }
    let codes = [
        TemplateError::Unbalanced { offset: 0 }.code(),
        TemplateError::EmptyTag { offset: 0 }.code(),
        TemplateError::LoomWithoutColumn { offset: 0 }.code(),
        TemplateError::SpintaxWithoutOptions { offset: 0 }.code(),
    ];
    assert_eq!(
        codes,
        [
            "unbalanced_braces",
            "empty_merge_tag",
            "invalid_loom_tag",
            "invalid_spintax_tag"
        ]
    );
}

#[test]
fn variables_lists_what_a_template_reads() {
    let t =
        Template::parse("{{First Name|x}} {{company}} {{firstName}} {{LOOM|video}} {{SPINTAX|a}}")
            .unwrap();
    assert_eq!(
        t.variables(),
        [("first_name", true), ("company", true), ("video", true)]
    );
    let t = Template::parse("{{company|them}}").unwrap();
    assert_eq!(t.variables(), [("company", false)]);
    assert!(!t.is_plain());
}

proptest! {
    #[test]
    fn parse_never_panics(src in "\\PC{0,64}") {
        let _ = Template::parse(&src);
    }

    #[test]
    fn parse_never_panics_on_brace_soup(src in "[{}|\\\\a é]{0,40}") {
        if let Err(e) = Template::parse(&src) {
            prop_assert!(src[e.offset()..].starts_with("{{"));
        }
    }

    #[test]
    fn a_template_without_tags_renders_to_its_text(src in "[^{\\\\]{0,80}") {
        let t = Template::parse(&src).unwrap();
        prop_assert!(t.is_plain());
        let data = MergeData::default();
        let ctx = RenderContext { data: &data, unsubscribe_url: None, lead_key: "k", step: 1 };
        for format in [Format::Text, Format::Html] {
            let r = t.render(&ctx, format);
            prop_assert_eq!(&r.text, &src);
            prop_assert!(r.missing.is_empty());
        }
    }
}
