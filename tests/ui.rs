//! Compile-fail tests (SPEC §4, one file per case) and compile-pass tests of `network!`.
#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/fail/*.rs");
    t.pass("tests/ui/pass/*.rs");
}
