//! Rule-matching benchmark (in progress).
fn main() {}
