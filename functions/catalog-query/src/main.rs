//! Knative / Lambda entry point of the `catalog-query` function.

fn main() -> std::process::ExitCode {
    tg_platform::run_function(catalog_query::FUNCTION)
}
