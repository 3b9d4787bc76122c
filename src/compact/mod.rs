//! Sorted-vector maps and sets for the handful of attributes and dependencies of one
//! resource. A std B-tree gives even a one-entry map a node of 300 to 640 bytes, and a
//! plan or state of 10,000 nodes holds some 150,000 such maps and sets; a sorted vector
//! holds its entries and nothing else.
//!
//! Same behaviour as `BTreeMap`/`BTreeSet` where it shows: iteration in key order, the
//! same `Debug`, JSON and equality; duplicate keys read from JSON keep the last value.
//! Inserting is linear in the length: meant for a few dozen entries, not thousands.

mod map;
mod set;

pub use map::VecMap;
pub use set::VecSet;
