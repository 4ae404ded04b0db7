//! Markdown → HTML for the catalog's description pages (`description.fr.md`, `.en.md`).
//!
//! The catalog is trusted more than a form, but a page is still text from a folder: raw HTML
//! in it is shown as text (escaped), links keep only `http(s)`, `mailto` and local targets,
//! and images become their alt text (the box works offline; remote images would not load).
//! Headings move down under the page's own (`#` and `##` become `<h3>`).

use pulldown_cmark::{CowStr, Event, HeadingLevel, Options, Parser, Tag, TagEnd, html};

/// One level down: the page's own title is the `<h1>`, and the description sits under an `<h2>`.
fn demote(level: HeadingLevel) -> HeadingLevel {
    match level {
        HeadingLevel::H1 => HeadingLevel::H3,
        HeadingLevel::H2 => HeadingLevel::H3,
        HeadingLevel::H3 => HeadingLevel::H4,
        HeadingLevel::H4 => HeadingLevel::H5,
        _ => HeadingLevel::H6,
    }
}

fn safe_url(url: &str) -> bool {
    let lower = url.trim().to_ascii_lowercase();
    match lower.split_once(':') {
        // A scheme before any '/', '?' or '#' must be one of ours.
        Some((scheme, _)) if !scheme.contains(['/', '?', '#']) => {
            matches!(scheme, "http" | "https" | "mailto")
        }
        _ => true,
    }
}

/// Renders `text` to HTML that is safe to embed in an admin page.
pub fn to_html(text: &str) -> String {
    let mut in_image = 0usize;
    let events = Parser::new_ext(text, Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH)
        .filter_map(|event| match event {
            Event::Html(raw) | Event::InlineHtml(raw) => Some(Event::Text(raw)),
            Event::Start(Tag::Image { .. }) => {
                in_image += 1;
                None
            }
            Event::End(TagEnd::Image) => {
                in_image = in_image.saturating_sub(1);
                None
            }
            Event::Start(Tag::Link {
                link_type,
                dest_url,
                title,
                id,
            }) if !safe_url(&dest_url) => Some(Event::Start(Tag::Link {
                link_type,
                dest_url: CowStr::Borrowed("#"),
                title,
                id,
            })),
            Event::Start(Tag::Heading {
                level,
                id,
                classes,
                attrs,
            }) => Some(Event::Start(Tag::Heading {
                level: demote(level),
                id,
                classes,
                attrs,
            })),
            Event::End(TagEnd::Heading(level)) => Some(Event::End(TagEnd::Heading(demote(level)))),
            other => Some(other),
        });
    let mut out = String::new();
    html::push_html(&mut out, events);
    out
}

#[cfg(test)]
mod tests {
    use super::to_html;

    #[test]
    fn renders_markdown_and_escapes_html() {
        let html = to_html(
            "# Titre\n\nDu **gras** et <script>alert(1)</script>.\n\n<div onclick=x>bloc</div>\n",
        );
        assert!(
            html.contains("<h3>Titre</h3>") && html.contains("<strong>gras</strong>"),
            "{html}"
        );
        assert!(
            !html.contains("<script") && html.contains("&lt;script&gt;"),
            "{html}"
        );
        assert!(!html.contains("<div"), "{html}");
    }

    #[test]
    fn keeps_only_safe_links_and_drops_images() {
        let html = to_html(
            "[a](https://etherpad.org) [b](javascript:alert(1)) [c](/admin) ![logo](http://x/y.png)",
        );
        assert!(
            html.contains("href=\"https://etherpad.org\"") && html.contains("href=\"/admin\""),
            "{html}"
        );
        assert!(
            !html.contains("javascript") && html.contains("href=\"#\""),
            "{html}"
        );
        assert!(!html.contains("<img") && html.contains("logo"), "{html}");
    }
}
