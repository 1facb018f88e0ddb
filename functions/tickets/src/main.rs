//! Knative / Lambda entry point of the `tickets` function.

fn main() -> std::process::ExitCode {
    tg_platform::run_function(tickets::FUNCTION)
}
