//! [`ResourceGraph`]: addresses as vertices, "depends on" as edges (petgraph).

use std::collections::{BTreeMap, BTreeSet};

use petgraph::Direction;
use petgraph::graph::{DiGraph, NodeIndex};

use super::GraphError;
use crate::addr::Address;
use crate::compact::VecSet;

/// A checked dependency graph. An edge `a → b` means `a` depends on `b`.
#[derive(Debug, Clone, Default)]
pub struct ResourceGraph {
    graph: DiGraph<Address, ()>,
    index: BTreeMap<Address, NodeIndex>,
}

impl ResourceGraph {
    /// Builds a graph from vertices and `(dependent, dependency)` edges, rejecting
    /// duplicates, edges to unknown addresses and cycles.
    pub fn new(
        addresses: impl IntoIterator<Item = Address>,
        edges: impl IntoIterator<Item = (Address, Address)>,
    ) -> Result<Self, GraphError> {
        let mut g = ResourceGraph::default();
        for address in addresses {
            g.add(address)?;
        }
        for (from, to) in edges {
            let (Some(&a), Some(&b)) = (g.index.get(&from), g.index.get(&to)) else {
                let missing = if g.index.contains_key(&from) {
                    to
                } else {
                    from.clone()
                };
                return Err(GraphError::Dangling { from, to: missing });
            };
            g.depend(a, b);
        }
        g.check()
    }

    /// Adds a vertex; building block of [`ResourceGraph::new`] for callers that keep
    /// the returned handles and so avoid looking addresses up again.
    pub fn add(&mut self, address: Address) -> Result<NodeIndex, GraphError> {
        match self.index.entry(address) {
            std::collections::btree_map::Entry::Occupied(e) => Err(GraphError::Duplicate {
                address: e.key().clone(),
            }),
            std::collections::btree_map::Entry::Vacant(e) => {
                let ix = self.graph.add_node(e.key().clone());
                e.insert(ix);
                Ok(ix)
            }
        }
    }

    /// Records that `dependent` depends on `dependency` (handles from [`ResourceGraph::add`]).
    pub fn depend(&mut self, dependent: NodeIndex, dependency: NodeIndex) {
        if self.graph.find_edge(dependent, dependency).is_none() {
            self.graph.add_edge(dependent, dependency, ());
        }
    }

    /// Finishes building: rejects a graph with a cycle.
    pub fn check(self) -> Result<Self, GraphError> {
        if petgraph::algo::toposort(&self.graph, None).is_err() {
            self.toposort()?;
        }
        Ok(self)
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    pub fn contains(&self, address: &Address) -> bool {
        self.index.contains_key(address)
    }

    /// Every address, sorted.
    pub fn addresses(&self) -> impl Iterator<Item = &Address> {
        self.index.keys()
    }

    /// What `address` depends on directly (empty for an unknown address).
    pub fn dependencies(&self, address: &Address) -> VecSet<Address> {
        self.neighbors(address, Direction::Outgoing)
    }

    /// The graph's copy of `address` (a clone shares its keys) and what it depends on
    /// directly; `None` for an unknown address.
    pub fn vertex(&self, address: &Address) -> Option<(&Address, VecSet<Address>)> {
        let (shared, &ix) = self.index.get_key_value(address)?;
        let dependencies = self
            .graph
            .neighbors_directed(ix, Direction::Outgoing)
            .map(|n| self.graph[n].clone())
            .collect();
        Some((shared, dependencies))
    }

    /// What depends directly on `address`.
    pub fn dependents(&self, address: &Address) -> VecSet<Address> {
        self.neighbors(address, Direction::Incoming)
    }

    fn neighbors(&self, address: &Address, dir: Direction) -> VecSet<Address> {
        match self.index.get(address) {
            Some(&ix) => self
                .graph
                .neighbors_directed(ix, dir)
                .map(|n| self.graph[n].clone())
                .collect(),
            None => VecSet::new(),
        }
    }

    /// Every `(dependent, dependency)` edge, sorted.
    pub fn edges(&self) -> Vec<(&Address, &Address)> {
        let mut edges: Vec<_> = self
            .graph
            .raw_edges()
            .iter()
            .map(|e| (&self.graph[e.source()], &self.graph[e.target()]))
            .collect();
        edges.sort();
        edges
    }

    /// Dependencies before dependents; ties broken by address order, so the result is
    /// the same for the same graph.
    pub fn toposort(&self) -> Result<Vec<Address>, GraphError> {
        let mut pending: BTreeMap<&Address, usize> = self
            .index
            .iter()
            .map(|(a, &ix)| (a, self.graph.neighbors_directed(ix, Direction::Outgoing).count()))
            .collect();
        let mut ready: BTreeSet<&Address> = pending
            .iter()
            .filter(|(_, n)| **n == 0)
            .map(|(a, _)| *a)
            .collect();
        let mut order = Vec::with_capacity(self.index.len());
        while let Some(next) = ready.pop_first() {
            order.push(next.clone());
            for dependent in self
                .graph
                .neighbors_directed(self.index[next], Direction::Incoming)
            {
                let dependent = &self.graph[dependent];
                let n = pending.get_mut(dependent).expect("every vertex is indexed");
                *n -= 1;
                if *n == 0 {
                    ready.insert(dependent);
                }
            }
        }
        if order.len() == self.index.len() {
            return Ok(order);
        }
        Err(GraphError::Cycle {
            cycle: self.find_cycle(&pending),
        })
    }

    /// A cycle among the vertices left with unmet dependencies.
    fn find_cycle(&self, pending: &BTreeMap<&Address, usize>) -> Vec<Address> {
        let Some((&start, _)) = pending.iter().find(|(_, n)| **n > 0) else {
            return Vec::new();
        };
        let mut path: Vec<&Address> = vec![start];
        loop {
            let here = self.index[*path.last().expect("path is never empty")];
            let next = self
                .graph
                .neighbors_directed(here, Direction::Outgoing)
                .map(|n| &self.graph[n])
                .filter(|a| pending.get(a).is_some_and(|n| *n > 0))
                .min()
                .expect("a vertex left in a cycle has a pending dependency");
            if let Some(pos) = path.iter().position(|a| *a == next) {
                let mut cycle: Vec<Address> = path[pos..].iter().map(|a| (*a).clone()).collect();
                cycle.push(next.clone());
                return cycle;
            }
            path.push(next);
        }
    }

    /// `roots` plus everything they depend on, transitively.
    pub fn with_dependencies(&self, roots: impl IntoIterator<Item = Address>) -> BTreeSet<Address> {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<Address> = roots.into_iter().collect();
        while let Some(a) = stack.pop() {
            if seen.insert(a.clone()) {
                stack.extend(self.dependencies(&a));
            }
        }
        seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Address {
        Address::server(s)
    }

    #[test]
    fn toposort_puts_dependencies_first_and_is_stable() {
        let g = ResourceGraph::new([a("c"), a("b"), a("a")], [(a("a"), a("c")), (a("b"), a("c"))]).unwrap();
        assert_eq!(g.toposort().unwrap(), vec![a("c"), a("a"), a("b")]);
        assert_eq!(g.dependencies(&a("a")), VecSet::from([a("c")]));
        assert_eq!(g.dependents(&a("c")), VecSet::from([a("a"), a("b")]));
    }

    #[test]
    fn a_cycle_is_reported_with_its_addresses() {
        let err = ResourceGraph::new(
            [a("x"), a("y"), a("z")],
            [(a("x"), a("y")), (a("y"), a("z")), (a("z"), a("y"))],
        )
        .unwrap_err();
        let GraphError::Cycle { cycle } = &err else {
            panic!("{err}")
        };
        assert_eq!(cycle, &vec![a("y"), a("z"), a("y")]);
        assert!(err.to_string().contains("server[\"y\"]"), "{err}");
    }

    #[test]
    fn an_edge_to_an_unknown_address_is_dangling() {
        let err = ResourceGraph::new([a("x")], [(a("x"), a("gone"))]).unwrap_err();
        assert_eq!(
            err,
            GraphError::Dangling {
                from: a("x"),
                to: a("gone")
            }
        );
        let dup = ResourceGraph::new([a("x"), a("x")], []).unwrap_err();
        assert!(matches!(dup, GraphError::Duplicate { .. }));
    }
}
