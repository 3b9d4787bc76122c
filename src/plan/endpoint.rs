//! An adapter endpoint (`tcp -h <host> -t <timeout> -p <port> -e 0`), parsed and rewritten.

/// An adapter endpoint's words, in order; `-h`, `-p` and `-t` read and replaced in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    words: Vec<String>,
}

impl Endpoint {
    pub fn parse(text: &str) -> Endpoint {
        Endpoint {
            words: text.split_whitespace().map(str::to_string).collect(),
        }
    }

    fn value(&self, flag: &str) -> Option<&str> {
        let at = self.words.iter().position(|w| w == flag)?;
        self.words.get(at + 1).map(String::as_str)
    }

    /// The `-h` host.
    pub fn host(&self) -> Option<&str> {
        self.value("-h")
    }

    /// The `-p` port (TarsWeb: `/-p *(\d+)( |$)/`).
    pub fn port(&self) -> Option<u16> {
        self.value("-p").and_then(|p| p.parse().ok())
    }

    /// The `-t` timeout in milliseconds.
    pub fn timeout(&self) -> Option<u64> {
        self.value("-t").and_then(|t| t.parse().ok())
    }

    /// Sets `flag`'s value, appending the pair when the flag is absent.
    pub fn set(&mut self, flag: &str, value: &str) {
        match self.words.iter().position(|w| w == flag) {
            Some(at) if at + 1 < self.words.len() => self.words[at + 1] = value.to_string(),
            Some(_) => self.words.push(value.to_string()),
            None => {
                self.words.push(flag.to_string());
                self.words.push(value.to_string());
            }
        }
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.words.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_words_are_read_and_replaced_in_place() {
        let mut e = Endpoint::parse("tcp -h 172.25.0.3 -t 20000 -p 23456 -e 0");
        assert_eq!(e.host(), Some("172.25.0.3"));
        assert_eq!(e.port(), Some(23456));
        assert_eq!(e.timeout(), Some(20000));
        e.set("-t", "60000");
        e.set("-p", "24000");
        assert_eq!(e.to_string(), "tcp -h 172.25.0.3 -t 60000 -p 24000 -e 0");
        let mut bare = Endpoint::parse("tcp -h 10.0.0.1");
        assert_eq!(bare.port(), None);
        bare.set("-p", "20001");
        assert_eq!(bare.to_string(), "tcp -h 10.0.0.1 -p 20001");
    }
}
