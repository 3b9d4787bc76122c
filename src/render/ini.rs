//! A minimal INI writer with the output conventions of Python's `configparser`
//! (which BcosBuilder uses): `key = value`, no indentation, a blank line after every section.

pub(super) struct IniWriter {
    text: String,
}

impl IniWriter {
    pub(super) fn new() -> Self {
        IniWriter { text: String::new() }
    }

    /// Starts `[name]`, closing the previous section with a blank line.
    pub(super) fn section(&mut self, name: &str) -> &mut Self {
        if !self.text.is_empty() {
            self.text.push('\n');
        }
        self.text.push('[');
        self.text.push_str(name);
        self.text.push_str("]\n");
        self
    }

    pub(super) fn key(&mut self, key: &str, value: impl std::fmt::Display) -> &mut Self {
        self.text.push_str(&format!("{key} = {value}\n"));
        self
    }

    /// A template comment, written as BcosBuilder writes it (its `;` lines become keys:
    /// lowercased, first `=`/`:` shown as ` = `).
    pub(super) fn note(&mut self, line: &str) -> &mut Self {
        self.text.push_str(line);
        self.text.push('\n');
        self
    }

    pub(super) fn finish(mut self) -> String {
        self.text.push('\n');
        self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_are_separated_by_one_blank_line_and_end_with_one() {
        let mut ini = IniWriter::new();
        ini.section("a").key("k", 1).note("; c");
        ini.section("b").key("x", "");
        assert_eq!(ini.finish(), "[a]\nk = 1\n; c\n\n[b]\nx = \n\n");
    }
}
