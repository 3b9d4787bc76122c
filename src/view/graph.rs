//! The resource graph as DOT (Graphviz) or Mermaid. Edges point from a resource to
//! what it depends on.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::addr::Address;
use crate::graph::ResourceGraph;

pub fn dot(graph: &ResourceGraph) -> String {
    let mut out = String::from("digraph tarsform {\n  rankdir = \"RL\";\n  node [shape = box];\n");
    for a in graph.addresses() {
        let _ = writeln!(out, "  {};", dot_id(a));
    }
    for (from, to) in graph.edges() {
        let _ = writeln!(out, "  {} -> {};", dot_id(from), dot_id(to));
    }
    out.push_str("}\n");
    out
}

fn dot_id(a: &Address) -> String {
    format!("\"{}\"", a.to_string().replace('\\', "\\\\").replace('"', "\\\""))
}

pub fn mermaid(graph: &ResourceGraph) -> String {
    let ids: BTreeMap<&Address, String> = graph
        .addresses()
        .enumerate()
        .map(|(i, a)| (a, format!("r{i}")))
        .collect();
    let mut out = String::from("flowchart RL\n");
    for (a, id) in &ids {
        let label = a.to_string().replace('"', "#quot;");
        let _ = writeln!(out, "  {id}[\"{label}\"]");
    }
    for (from, to) in graph.edges() {
        let _ = writeln!(out, "  {} --> {}", ids[from], ids[to]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_and_mermaid_escape_the_quotes_of_addresses() {
        let g = ResourceGraph::new(
            [Address::server("s"), Address::node("s", "1.2.3.4")],
            [(Address::node("s", "1.2.3.4"), Address::server("s"))],
        )
        .unwrap();
        assert_eq!(
            dot(&g),
            "digraph tarsform {\n  rankdir = \"RL\";\n  node [shape = box];\n  \"server[\\\"s\\\"]\";\n  \"node[\\\"s\\\"][\\\"1.2.3.4\\\"]\";\n  \"node[\\\"s\\\"][\\\"1.2.3.4\\\"]\" -> \"server[\\\"s\\\"]\";\n}\n"
        );
        assert_eq!(
            mermaid(&g),
            "flowchart RL\n  r0[\"server[#quot;s#quot;]\"]\n  r1[\"node[#quot;s#quot;][#quot;1.2.3.4#quot;]\"]\n  r1 --> r0\n"
        );
    }
}
