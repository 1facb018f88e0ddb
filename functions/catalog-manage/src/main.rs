//! Knative / Lambda entry point of the `catalog-manage` function.

fn main() -> std::process::ExitCode {
    tg_platform::run_function(catalog_manage::FUNCTION)
}
