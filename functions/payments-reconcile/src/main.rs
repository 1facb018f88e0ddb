//! Knative / Lambda entry point of the `payments-reconcile` function.

fn main() -> std::process::ExitCode {
    tg_platform::run_function(payments_reconcile::FUNCTION)
}
