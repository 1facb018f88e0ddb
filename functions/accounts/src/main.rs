//! Knative / Lambda entry point of the `accounts` function.

fn main() -> std::process::ExitCode {
    tg_platform::run_function(accounts::FUNCTION)
}
