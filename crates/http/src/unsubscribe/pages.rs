//! The unsubscribe pages: static HTML, nothing from the request echoed (no escaping needed).

/// The page around a title and a body (string literals only: the pages are constants).
macro_rules! page {
    ($title:literal, $body:literal) => {
        concat!(
            r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<style>
body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#222}
button{font-size:1rem;padding:.6rem 1.2rem;cursor:pointer}
</style>
<title>"#,
            $title,
            "</title>\n</head>\n<body>\n",
            $body,
            "\n</body>\n</html>\n"
        )
    };
}

/// GET: asks for confirmation; the form posts to the same URL.
pub const CONFIRM: &str = page!(
    "Unsubscribe",
    r#"<h1>Unsubscribe</h1>
<p>Do you want to stop receiving these emails?</p>
<form method="post">
<input type="hidden" name="List-Unsubscribe" value="One-Click">
<button type="submit">Unsubscribe</button>
</form>"#
);

/// POST: done (also when it was done before).
pub const DONE: &str = page!(
    "Unsubscribed",
    r#"<h1>You are unsubscribed</h1>
<p>You will not receive any more of these emails.</p>"#
);

/// Unknown, tampered or deleted link.
pub const NOT_FOUND: &str = page!(
    "Link not found",
    r#"<h1>Link not found</h1>
<p>This unsubscribe link is not valid or no longer exists.</p>"#
);

/// The store failed.
pub const FAILED: &str = page!(
    "Please try again",
    r#"<h1>Something went wrong</h1>
<p>We could not unsubscribe you just now. Please try again in a few minutes.</p>"#
);

/// Neither GET nor POST.
pub const METHOD_NOT_ALLOWED: &str = page!(
    "Not allowed",
    r#"<h1>Not allowed</h1>
<p>Open the link in your browser to unsubscribe.</p>"#
);
