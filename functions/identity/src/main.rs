//! Knative / Lambda entry point of the `identity` function.

fn main() -> std::process::ExitCode {
    tg_platform::run_function(identity::FUNCTION)
}
