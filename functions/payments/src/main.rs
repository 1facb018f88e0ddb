//! Knative / Lambda entry point of the `payments` function.

fn main() -> std::process::ExitCode {
    tg_platform::run_function(payments::FUNCTION)
}
