//! The one way text reaches the HTML report.
//!
//! Markup (tag and attribute names, the style sheet) can only be a
//! `&'static str` written in this crate; every string that comes from a
//! record (a device's answer, a board name, a path, a number) enters
//! through [`Html::text`] or as an attribute value, and both escape it
//! with [`escape_html_into`]. There is no method that takes a dynamic
//! string as markup, so a forgotten field cannot become markup. A link
//! target is a [`Href`], made only by [`Href::relative`].

use crate::escape::escape_html_into;

/// An HTML document under construction.
pub struct Html {
    out: String,
}

impl Html {
    pub fn with_capacity(bytes: usize) -> Self {
        Self {
            out: String::with_capacity(bytes),
        }
    }

    pub fn finish(self) -> String {
        self.out
    }

    /// Markup written here: doctype, style sheet, fixed fragments.
    pub fn markup(&mut self, markup: &'static str) {
        self.out.push_str(markup);
    }

    /// `<tag a="v" ...>`, every value escaped.
    pub fn open(&mut self, tag: &'static str, attributes: &[(&'static str, &str)]) {
        self.out.push('<');
        self.out.push_str(tag);
        for (name, value) in attributes {
            self.attribute(name, value);
        }
        self.out.push('>');
    }

    pub fn close(&mut self, tag: &'static str) {
        self.out.push_str("</");
        self.out.push_str(tag);
        self.out.push('>');
    }

    /// Text content, escaped.
    pub fn text(&mut self, text: &str) {
        escape_html_into(&mut self.out, text);
    }

    /// `<tag attributes>text</tag>`.
    pub fn element(&mut self, tag: &'static str, attributes: &[(&'static str, &str)], text: &str) {
        self.open(tag, attributes);
        self.text(text);
        self.close(tag);
    }

    /// `<a href="...">text</a>`.
    pub fn link(&mut self, href: &Href, text: &str) {
        self.out.push_str("<a");
        self.attribute("href", &href.0);
        self.out.push('>');
        self.text(text);
        self.out.push_str("</a>");
    }

    fn attribute(&mut self, name: &'static str, value: &str) {
        self.out.push(' ');
        self.out.push_str(name);
        self.out.push_str("=\"");
        escape_html_into(&mut self.out, value);
        self.out.push('"');
    }
}

/// A link target inside the run folder.
pub struct Href(String);

impl Href {
    /// A link to `path`, relative to the report (which sits in the run
    /// folder): each segment percent-encoded, so no part of it can be a
    /// scheme (`javascript:`), a query or a fragment. None for a path that
    /// would leave the run folder (absolute, `..`, empty segments, a
    /// backslash): such a path is shown, not linked.
    pub fn relative(path: &str) -> Option<Self> {
        let leaves = path.is_empty()
            || path.starts_with('/')
            || path.contains('\\')
            || path
                .split('/')
                .any(|s| s.is_empty() || s == "." || s == "..");
        if leaves {
            return None;
        }
        let mut href = String::with_capacity(path.len() + 8);
        for (i, segment) in path.split('/').enumerate() {
            if i > 0 {
                href.push('/');
            }
            for byte in segment.bytes() {
                if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
                    href.push(byte as char);
                } else {
                    href.push_str(&format!("%{byte:02X}"));
                }
            }
        }
        Some(Self(href))
    }

    /// `#t<index>`: the finding of trial `index` in the same report.
    pub fn anchor_trial(index: usize) -> Self {
        Self(format!("#t{index}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_attribute_values_are_escaped() {
        let mut html = Html::with_capacity(64);
        html.element("td", &[("title", "\"><script>")], "<b>&</b>");
        assert_eq!(
            html.finish(),
            "<td title=\"&quot;&gt;&lt;script&gt;\">&lt;b&gt;&amp;&lt;/b&gt;</td>"
        );
    }

    #[test]
    fn hrefs_stay_in_the_run_folder_and_carry_no_scheme() {
        let href = |p: &str| Href::relative(p).map(|h| h.0);
        assert_eq!(
            href("b/AU-08/login banners.txt").as_deref(),
            Some("b/AU-08/login%20banners.txt")
        );
        assert_eq!(
            href("javascript:alert(1)").as_deref(),
            Some("javascript%3Aalert%281%29")
        );
        assert_eq!(href("x?y#z\"").as_deref(), Some("x%3Fy%23z%22"));
        for leaving in [
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "",
            "a\\..\\b",
            "./a",
        ] {
            assert!(href(leaving).is_none(), "{leaving}");
        }
    }
}
