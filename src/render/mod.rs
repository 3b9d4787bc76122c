//! See DESIGN.md §9.
